"""recsys_lab.charts: the explorers' in-page charts (their spec, their errors, the site plugin)."""

import json

import pandas as pd
import pytest

from recsys_lab.charts import (
    CHART_CLASS,
    VEGA_LITE_MIMETYPE,
    InPageChart,
    VegaLiteOnTheSite,
    chart_html,
    sweep_chart,
)


@pytest.fixture
def grid():
    return pd.DataFrame({
        "λ": [10, 100, 1000, 10, 100, 1000],
        "d": [8, 8, 8, 32, 32, 32],
        "NDCG@10": [0.20, 0.25, 0.22, 0.21, 0.27, 0.23],
        "RMSE": [0.95, 0.93, 0.94, 0.96, 0.92, 0.97],
    })


def _params(spec):
    return {p["name"]: p for p in spec.get("params", [])}


def test_controls_and_metrics_become_dropdowns_over_the_grid(grid):
    spec = sweep_chart(grid, "λ", ["NDCG@10", "RMSE"], controls=["d"],
                       lower_is_better=["RMSE"], initial={"d": 32}).to_dict()
    params = _params(spec)
    assert params["metric"]["bind"] == {"input": "select", "options": ["NDCG@10", "RMSE"],
                                        "name": "metric "}
    assert params["control1"]["bind"]["options"] == [8, 32]
    assert params["control1"]["value"] == 32
    assert spec["$schema"].endswith("/v5.20.1.json") or "v5" in spec["$schema"]


def test_the_data_hold_every_setting_once_under_plain_field_names(grid):
    spec = sweep_chart(grid, "λ", "NDCG@10", controls=["d"]).to_dict()
    rows = spec["data"]["values"]
    assert len(rows) == len(grid)
    assert set(rows[0]) == {"c0", "c1", "NDCG@10"}  # λ and d are renamed; titles keep them
    assert "params" in spec and "metric" not in _params(spec)  # one metric: no dropdown


def test_lower_is_better_flips_the_score_that_picks_the_best(grid):
    spec = json.dumps(sweep_chart(grid, "λ", ["NDCG@10", "RMSE"], controls=["d"],
                                  lower_is_better=["RMSE"]).to_dict())
    assert '(datum.metric == \\"RMSE\\") ? -datum.value : datum.value' in spec
    spec = json.dumps(sweep_chart(grid, "λ", "NDCG@10", controls=["d"]).to_dict())
    assert "(false) ? -datum.value : datum.value" in spec


def test_categorical_x_keeps_the_grid_order():
    frame = pd.DataFrame({"widths": ["3", "1", "1,2,3"], "Recall@20": [0.1, 0.2, 0.3]})
    spec = sweep_chart(frame, "widths", "Recall@20").to_dict()
    x = spec["layer"][0]["encoding"]["x"]
    assert x["type"] == "ordinal" and x["sort"] == ["3", "1", "1,2,3"]


def test_log_x_and_title(grid):
    spec = sweep_chart(grid, "λ", "NDCG@10", controls=["d"], log_x=True, title="EASE").to_dict()
    assert spec["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    assert spec["title"]["text"] == "EASE"


@pytest.mark.parametrize("kwargs, message", [
    (dict(x="k"), r"no column\(s\) \['k'\]"),
    (dict(metrics=[]), "metrics is empty"),
    (dict(controls=["λ"]), "must be distinct"),
    (dict(lower_is_better=["MAE"]), "not metrics"),
    (dict(initial={"depth": 2}), "not controls"),
    (dict(initial={"d": 16}), "not in the grid"),
])
def test_bad_arguments_are_named(grid, kwargs, message):
    arguments = dict(frame=grid, x="λ", metrics="NDCG@10", controls=["d"]) | kwargs
    with pytest.raises(ValueError, match=message):
        sweep_chart(**arguments)


def test_bad_frames_are_named(grid):
    with pytest.raises(TypeError, match="DataFrame"):
        sweep_chart(grid.to_dict(), "λ", "NDCG@10")
    with pytest.raises(ValueError, match="no rows"):
        sweep_chart(grid.iloc[:0], "λ", "NDCG@10")
    with pytest.raises(ValueError, match="same setting"):
        sweep_chart(grid, "λ", "NDCG@10")  # d missing: two rows per λ
    with pytest.raises(ValueError, match="must hold numbers"):
        sweep_chart(grid.assign(NDCG=["a"] * 6), "λ", "NDCG", controls=["d"])


def test_the_output_is_vega_lite_whatever_altairs_renderer(grid):
    chart = sweep_chart(grid, "λ", "NDCG@10", controls=["d"], title="T")
    assert isinstance(chart, InPageChart)
    bundle = chart._repr_mimebundle_()
    assert set(bundle) == {VEGA_LITE_MIMETYPE, "text/plain"}
    assert bundle[VEGA_LITE_MIMETYPE] == chart.to_dict()
    assert bundle["text/plain"] == "Interactive chart: T"


def test_chart_html_carries_the_spec_safely():
    spec = {"title": "a </script><b>", "mark": "point"}
    html = chart_html(spec)
    assert html.startswith(f'<div class="{CHART_CLASS}" role="figure"')
    assert html.count("</script>") == 1  # the spec's own "</script>" is escaped
    payload = html.split('<script type="application/json">')[1].split("</script>")[0]
    assert json.loads(payload) == spec


class _Data:
    def __init__(self, mime_type, content):
        self.mime_type, self.content = mime_type, content


def test_the_site_plugin_renders_vega_lite_only_as_a_block():
    spec = {"mark": "point"}
    nodes = VegaLiteOnTheSite.handle_mime(None, _Data(VEGA_LITE_MIMETYPE, spec), False)
    assert len(nodes) == 1 and nodes[0].astext() == chart_html(spec)
    assert nodes[0]["format"] == "html"
    assert VegaLiteOnTheSite.handle_mime(None, _Data("text/plain", "x"), False) is None
    assert VegaLiteOnTheSite.handle_mime(None, _Data(VEGA_LITE_MIMETYPE, spec), True) is None
    assert ("html", VEGA_LITE_MIMETYPE, 1) in VegaLiteOnTheSite.mime_priority_overrides
