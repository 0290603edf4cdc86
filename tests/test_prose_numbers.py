"""Numbers in the prose come from the run (design.md): a chapter's markdown states a measured
figure only through a myst-nb glue role, so the text cannot drift from the cell that computed it.

The chapters in ``GLUED`` have adopted glue; the older chapters are being converted (issue
"Every number in the prose comes from the run") and join the list as they are. Typed by hand
and allowed: dataset facts and published figures cited with their own protocol, listed per
chapter in ``ALLOWED``.
"""

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
GLUED = ("01_data_and_evaluation", "02_matrix_factorization", "03_neural_cf", "04_autoencoders",
         "05_content_cold_start", "06_rnn_sequences", "07_attention", "07a_attention_results",
         "08_gans", "09_graph_networks", "09a_graph_results", "10_feature_models",
         "10a_fields_over_splits", "10b_new_user", "10c_multitask", "11a_leaderboard_rating",
         "11b_leaderboard_topn", "11c_leaderboard_seq", "11d_leaderboard_cold_user",
         "11e_leaderboard_cold_user_5", "11f_leaderboard_cold_items", "12_beyond_accuracy",
         "13_privacy_online", "14_scaling_out")
#: Hand-typed figures a chapter may state (dataset facts, cited published results).
ALLOWED: dict[str, set[str]] = {
    "01_data_and_evaluation": {
        "20%",  # the protocols' definition (a random 20% held out), not a measurement
        "0.944",  # Surprise BaselineOnly, RMSE under RATING (reference figure)
        "0.443", "0.445", "0.223",  # EASE (λ=500) NDCG@10, Recall@20; MostPopular NDCG@10: TOPN
        "0.145", "0.086",  # EASE and MostPopular HR@10 under SEQ (reference figures)
    },
    "02_matrix_factorization": {
        "30%",  # the density of the toy matrix, a setting of synthetic_ratings
        "0.935", "0.919",  # Surprise SVD and SVD++ RMSE, 5-fold CV with defaults (reference)
    },
    "03_neural_cf": {
        "70%",  # the watch probability of the synthetic circle data, a setting
        "95%",  # the confidence level of a bootstrap interval, a setting
    },
    "04_autoencoders": {
        "0.2", "0.001",  # Liang et al.'s published β cap and learning rate (cited)
    },
    "05_content_cold_start": {
        "20%",  # the COLD protocol's definition (a seeded 20% of items held out), a setting
    },
    "06_rnn_sequences": set(),
    "07_attention": set(),
    "07a_attention_results": set(),
    "08_gans": set(),
    "09_graph_networks": set(),
    "09a_graph_results": set(),
    "10_feature_models": {
        "95%",  # the confidence level of a bootstrap interval, a setting
    },
    "10a_fields_over_splits": {
        "95%",  # the confidence level of a bootstrap interval, a setting
    },
    "10b_new_user": set(),
    "10c_multitask": set(),
    "11a_leaderboard_rating": {
        "95%",  # the confidence level of a bootstrap interval, a setting
    },
    "11f_leaderboard_cold_items": {
        "95%",  # the confidence level of a bootstrap interval, a setting
    },
    "11b_leaderboard_topn": {
        "95%",  # the confidence level of a bootstrap interval, a setting
    },
    "11c_leaderboard_seq": {
        "95%",  # the confidence level of a bootstrap interval, a setting
    },
    "11d_leaderboard_cold_user": set(),
    "11e_leaderboard_cold_user_5": set(),
    "12_beyond_accuracy": {
        "95%",  # the confidence level of a bootstrap interval, a setting
    },
    "13_privacy_online": {
        "95%",  # the confidence level of a bootstrap interval, a setting
    },
    "14_scaling_out": {
        "2.21", "3.15",  # the TensorFlow and Keras versions the Keras fit finding was checked on
    },
}

_GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]*)`")
_REMOVED = [
    re.compile(r"\$\$.*?\$\$", re.S),  # display maths: derivations, not measurements
    re.compile(r"(?<!\\)\$[^$\n]+\$"),  # inline maths
    re.compile(r"```.*?```", re.S),  # fenced blocks: directives, code
    re.compile(r"\{[\w:-]+\}`[^`]*`"),  # roles: glue, cite, ref, doc
    re.compile(r"`[^`]*`"),  # inline code
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"^:[\w-]+:.*$", re.M),  # directive options
]
#: A decimal number or a percentage: what a measured figure looks like.
_FIGURE = re.compile(r"(?<![\w.,])(\d+\.\d+|\d+(?:\.\d+)?\s?%)(?!\w|\.\d)")


def _markdown_cells(name: str) -> list[str]:
    notebook = json.loads((BOOK / f"{name}.ipynb").read_text())
    return ["".join(cell["source"]) for cell in notebook["cells"]
            if cell["cell_type"] == "markdown"]


def _glued_keys(name: str) -> set[str]:
    notebook = json.loads((BOOK / f"{name}.ipynb").read_text())
    code = "\n".join("".join(cell["source"]) for cell in notebook["cells"]
                     if cell["cell_type"] == "code")
    return set(re.findall(r"""glue\(\s*["']([^"']+)["']""", code))


def typed_figures(text: str) -> list[str]:
    """The decimal numbers and percentages of ``text`` outside maths, code and roles."""
    for pattern in _REMOVED:
        text = pattern.sub(" ", text)
    return _FIGURE.findall(text)


def test_typed_figures_are_found_outside_glue_maths_and_code():
    text = ("LightGCN reaches 0.4403 and {glue:text}`ndcg:.4f`, 12 % more; $x = 0.5$ and "
            "`lr=0.02`, {cite}`he2020lightgcn`, 943 users, 1,682 items, version 1.2.1; "
            "the missing 94%. It ends at 0.25.\n"
            "```{exercise} Title\n:label: ch9-x\nUse 0.3.\n```")
    assert typed_figures(text) == ["0.4403", "12 %", "94%", "0.25"]


@pytest.mark.parametrize("name", GLUED)
def test_a_glued_chapter_types_no_measured_figure(name):
    typed = [figure for cell in _markdown_cells(name) for figure in typed_figures(cell)
             if figure not in ALLOWED[name]]
    assert not typed, f"{name}: figures typed by hand instead of glued: {typed}"


@pytest.mark.parametrize("name", GLUED)
def test_every_glue_role_names_a_value_the_chapter_glues(name):
    used = {match.split(":")[0] for cell in _markdown_cells(name)
            for match in _GLUE_ROLE.findall(cell)}
    assert used, f"{name} uses no glue role"
    assert used <= _glued_keys(name), f"{name}: unknown glue keys {used - _glued_keys(name)}"


#: The book's pages written in plain MyST (no cell computes anything there): only dataset
#: facts and settings may appear, each listed here.
PAGES: dict[str, set[str]] = {
    "00_introduction": {
        "93.7",  # the unobserved share of ML-100K's rating matrix, 1 − 100,000 / (943 · 1,682)
        "20%",  # the protocols' definitions (a random 20% held out)
    },
    "11_leaderboard": {"95%"},  # the confidence level of the intervals, a setting
    "teaching": set(),
}


@pytest.mark.parametrize("name", PAGES)
def test_a_markdown_page_types_only_facts_and_settings(name):
    typed = [figure for figure in typed_figures((BOOK / f"{name}.md").read_text())
             if figure not in PAGES[name]]
    assert not typed, f"{name}.md: measured figures typed by hand: {typed}"


@pytest.mark.parametrize("name", GLUED)
def test_a_chapter_glues_each_key_once(name):
    """myst-nb warns on a key glued twice, and the build treats warnings as errors."""
    notebook = json.loads((BOOK / f"{name}.ipynb").read_text())
    keys = [key for cell in notebook["cells"] if cell["cell_type"] == "code"
            for key in re.findall(r"""glue\(\s*["']([^"']+)["']""", "".join(cell["source"]))]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    assert not repeated, f"{name} glues these keys more than once: {repeated}"
