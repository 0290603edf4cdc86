"""In-page charts of a precomputed sweep: the website's explorers (Altair / Vega-Lite).

A chapter's live explorer (:func:`recsys_lab.widgets.explorer`) needs a Python kernel to fit a
model, so the website cannot run it. What the website can do is show the validation sweep the
chapter already computed as a chart whose controls pick among the settings of that grid, redrawn
by Vega-Lite in the browser with no Python. :func:`sweep_chart` builds such a chart from a tidy
table (one row per setting). In JupyterLab it renders as any Altair chart; on the website,
:class:`VegaLiteOnTheSite` (a myst-nb output plugin declared in pyproject.toml) writes it into the
page, where ``book/_static_extra/vega-charts.js`` draws it with the locally served Vega scripts.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence

import pandas as pd

VEGA_LITE_MIMETYPE = "application/vnd.vegalite.v5+json"
CHART_CLASS = "recsys-chart"


def _field(index: int) -> str:
    # Vega expressions reach a column as datum['name']; plain names avoid escaping the book's
    # column names (λ, "ZR = PM ratio", "L2 penalty"), which appear as titles instead.
    return f"c{index}"


def _checked_columns(frame: pd.DataFrame, x: str, metrics: Sequence[str],
                     controls: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, not {type(frame).__name__}")
    if frame.empty:
        raise ValueError("frame has no rows: a chart needs at least one setting")
    if not metrics:
        raise ValueError("metrics is empty: name at least one column to plot")
    named = [x, *metrics, *controls]
    missing = [name for name in named if name not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}; it has {list(frame.columns)}")
    if len(set(named)) != len(named):
        raise ValueError(f"x, metrics and controls must be distinct columns, got {named}")
    for metric in metrics:
        values = frame[metric]
        if not pd.api.types.is_numeric_dtype(values) or values.isna().all():
            raise ValueError(f"metric column {metric!r} must hold numbers")
    if frame.duplicated(subset=[x, *controls]).any():
        raise ValueError(f"two rows share the same setting of {[x, *controls]}: each point of "
                         "the grid must appear once")


def sweep_chart(frame: pd.DataFrame, x: str, metrics: str | Sequence[str], *,
                controls: Sequence[str] = (), lower_is_better: Sequence[str] = (),
                initial: Mapping[str, object] | None = None, log_x: bool = False,
                title: str = "", y_title: str = "validation score", width: int = 420,
                height: int = 240):
    """An interactive chart of a validation sweep: pick a setting, see its curve and best point.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per setting of the grid: the column ``x``, the ``controls`` columns and the
        ``metrics`` columns. Each combination of ``x`` and ``controls`` appears once.
    x : str
        The hyper-parameter on the horizontal axis (numeric: a line; otherwise: ordered points).
    metrics : str or sequence of str
        Metric column(s). With several, a dropdown chooses the metric shown.
    controls : sequence of str
        Other hyper-parameters of the grid, each chosen by a dropdown over its values.
    lower_is_better : sequence of str
        Metrics whose best value is the smallest (e.g. ``"RMSE"``); the others are maximised.
    initial : mapping, optional
        The value each control (and ``"metric"``) starts at; by default the first value.
    log_x : bool
        Logarithmic horizontal axis (for grids such as 10, 100, 1000).
    title, y_title, width, height
        The chart's title, the vertical axis' title and the plotting area in pixels.

    Returns
    -------
    InPageChart
        A line of the chosen metric against ``x`` for the chosen controls, the best point marked
        and its numbers written above the plot, and a tooltip on every point. Its ``chart`` is
        the Altair chart, for readers who want to restyle it.
    """
    import altair as alt

    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    controls = list(controls)
    _checked_columns(frame, x, metrics, controls)
    initial = dict(initial or {})
    unknown = set(initial) - {*controls, "metric"}
    if unknown:
        raise ValueError(f"initial names {sorted(unknown)}, which are not controls {controls} "
                         "or 'metric'")
    lower = set(lower_is_better) - set(metrics)
    if lower:
        raise ValueError(f"lower_is_better names {sorted(lower)}, which are not metrics {metrics}")

    names = [x, *controls, *metrics]
    data = frame[names].rename(columns={n: _field(i) for i, n in enumerate(names)})
    data = data.rename(columns={_field(1 + len(controls) + j): m for j, m in enumerate(metrics)})
    x_field = _field(0)
    numeric_x = pd.api.types.is_numeric_dtype(frame[x])
    for column in data.columns:
        if not pd.api.types.is_numeric_dtype(data[column]):
            data[column] = data[column].astype(str)

    base = alt.Chart(alt.Data(values=json.loads(data.to_json(orient="records"))))
    base = base.transform_fold(metrics, as_=["metric", "value"])
    parameters = []
    metric_param = alt.param(name="metric", value=initial.get("metric", metrics[0]),
                             bind=alt.binding_select(options=metrics, name="metric "))
    if len(metrics) > 1:
        parameters.append(metric_param)
        base = base.transform_filter(alt.datum.metric == metric_param)
    for i, control in enumerate(controls, start=1):
        column = data[_field(i)]
        options = sorted(column.unique().tolist(), key=lambda v: (isinstance(v, str), v))
        start = initial.get(control, options[0])
        start = str(start) if isinstance(options[0], str) else start
        if start not in options:
            raise ValueError(f"initial value {start!r} of {control!r} is not in the grid {options}")
        param = alt.param(name=f"control{i}", value=start,
                          bind=alt.binding_select(options=options, name=f"{control} "))
        parameters.append(param)
        base = base.transform_filter(alt.datum[_field(i)] == param)
    # Scores are signed so that "best" is always the largest.
    signed = " || ".join(f"datum.metric == {json.dumps(m)}" for m in lower_is_better) or "false"
    base = base.transform_calculate(score=f"({signed}) ? -datum.value : datum.value")

    x_encoding = alt.X(f"{x_field}:{'Q' if numeric_x else 'O'}", title=x,
                       axis=alt.Axis() if numeric_x else alt.Axis(labelAngle=0),
                       scale=alt.Scale(type="log", nice=False) if log_x else alt.Undefined,
                       sort=None if numeric_x else list(dict.fromkeys(data[x_field])))
    y_encoding = alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False))
    tooltip = [alt.Tooltip(f"{_field(i)}:N", title=name) for i, name in
               enumerate([x, *controls])] + [alt.Tooltip("metric:N"),
                                             alt.Tooltip("value:Q", format=".4f")]
    curve = base.mark_line(point=True).encode(x=x_encoding, y=y_encoding, tooltip=tooltip)
    best = base.transform_window(rank="row_number()", sort=[alt.SortField("score", "descending")])
    best = best.transform_filter(alt.datum.rank == 1)
    star = best.mark_point(shape="diamond", size=160, filled=True, color="#d62728").encode(
        x=x_encoding, y=y_encoding, tooltip=tooltip)
    x_text = (f"datum.{x_field}" if not numeric_x
              else f"format(datum.{x_field}, '~g')")
    label = best.transform_calculate(
        label=f"'best {x} = ' + {x_text} + ':  ' + datum.metric + ' = ' + "
              "format(datum.value, '.4f')"
    ).mark_text(align="left", baseline="bottom", dy=-6, fontSize=13).encode(
        text="label:N", x=alt.value(0), y=alt.value(0))
    chart = alt.layer(curve, star, label).properties(width=width, height=height)
    if parameters:
        chart = chart.add_params(*parameters)
    if title:
        chart = chart.properties(title=alt.TitleParams(title, offset=24))
    return InPageChart(chart)


class InPageChart:
    """An Altair chart shown as a Vega-Lite 5 output, whatever Altair's active renderer.

    Altair's default renderer writes HTML that loads Vega from a CDN; this output instead is the
    Vega-Lite spec itself, which JupyterLab draws with its own bundled Vega (offline too) and
    the website with the copy it serves (:class:`VegaLiteOnTheSite`).
    """

    def __init__(self, chart):
        self.chart = chart

    def to_dict(self) -> dict:
        """The Vega-Lite specification (validated by Altair)."""
        return self.chart.to_dict()

    def _repr_mimebundle_(self, include=None, exclude=None):
        spec = self.to_dict()
        return {VEGA_LITE_MIMETYPE: spec, "text/plain": _summary(spec)}


def chart_html(spec: Mapping) -> str:
    """The HTML a page gets for one Vega-Lite ``spec``: a placeholder the page script draws into.

    The spec travels as JSON inside a ``<script type="application/json">`` element, so a page
    without JavaScript shows nothing broken, and ``</script>`` inside the spec cannot end it.
    """
    payload = json.dumps(spec, sort_keys=True).replace("</", "<\\/")
    return (f'<div class="{CHART_CLASS}" role="figure" aria-label="{html.escape(_summary(spec))}">'
            f'<script type="application/json">{payload}</script></div>')


def _summary(spec: Mapping) -> str:
    title = spec.get("title")
    if isinstance(title, Mapping):
        title = title.get("text")
    return f"Interactive chart: {title}" if title else "Interactive chart of a validation sweep"


class VegaLiteOnTheSite:
    """myst-nb output plugin: Vega-Lite 5 outputs become in-page charts on the website.

    Declared under the ``myst_nb.mime_renderers`` entry point in pyproject.toml. For the HTML
    builders the Vega-Lite output is preferred to every other form of a cell's output.
    """

    mime_priority_overrides = [("html", VEGA_LITE_MIMETYPE, 1),
                               ("dirhtml", VEGA_LITE_MIMETYPE, 1),
                               ("singlehtml", VEGA_LITE_MIMETYPE, 1)]

    @staticmethod
    def handle_mime(renderer, data, inline):
        if inline or data.mime_type != VEGA_LITE_MIMETYPE:
            return None
        from docutils import nodes

        spec = data.content if isinstance(data.content, Mapping) else json.loads(data.content)
        return [nodes.raw("", chart_html(spec), format="html", classes=["output"])]
