"""The feature-rich chapter's graders: right answers pass, typical mistakes get their hint,
and no wrong answer makes a grader raise."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_lab.exercises import Feedback
from recsys_lab.exercises import features as graders
from recsys_lab.scratch.fm import cross_layer, field_embedding, fm_pairwise

GRADER_BUG = "bug in the check"


def fm_sparse(X, V):
    return fm_pairwise(sp.csr_matrix(X), V)


def fm_without_half(X, V):
    return 2 * fm_pairwise(X, V)


def fm_with_x_not_squared(X, V):
    return 0.5 * ((X @ V) ** 2 - X @ (V ** 2)).sum(axis=1)


def fm_without_correction(X, V):
    return 0.5 * ((X @ V) ** 2).sum(axis=1)


def fm_not_summed_over_factors(X, V):
    return 0.5 * ((X @ V) ** 2 - (X ** 2) @ (V ** 2))


def cross_without_residual(x0, x, W, b):
    return x0 * (x @ W + b)


def cross_transposed(x0, x, W, b):
    return x0 * (x @ W.T + b) + x


def cross_projecting_x0(x0, x, W, b):
    return x0 * (x0 @ W + b) + x


def embedding_plain_sum(values, weights, table):
    return table[values].sum(axis=1)


def embedding_own_mean(values, weights, table):
    known = (values > 0)[..., None]
    return (table[values] * known).sum(axis=1) / np.maximum(known.sum(axis=1), 1)


def embedding_not_summed(values, weights, table):
    return weights[..., None] * table[values]


CASES = [
    (graders.check_fm_identity, fm_pairwise,
     [(fm_without_half, "forgot the ½"), (fm_with_x_not_squared, "square the inputs"),
      (fm_without_correction, "kept the terms i = j"),
      (fm_not_summed_over_factors, "sum over the k factors"),
      (lambda X, V: 1.01 * fm_pairwise(X, V), "is wrong at")]),
    (graders.check_cross_layer, cross_layer,
     [(cross_without_residual, "residual + x"), (cross_transposed, "rows are examples"),
      (cross_projecting_x0, "project x"),
      (lambda x0, x, W, b: x0 * (x @ W) + x, "forgot the bias")]),
    (graders.check_field_embedding, field_embedding,
     [(embedding_plain_sum, "plain sum"), (embedding_own_mean, "use the weights given"),
      (embedding_not_summed, "over the width"),
      (lambda v, w, t: field_embedding(v, w, t) + 0.1, "is wrong at")]),
]
IDS = ["fm_identity", "cross_layer", "field_embedding"]


def assert_fails(feedback, fragment=""):
    assert isinstance(feedback, Feedback) and not feedback
    assert fragment in feedback.message, feedback.message
    assert GRADER_BUG not in feedback.message, feedback.message
    assert repr(feedback).startswith("❌")


@pytest.mark.parametrize(("check", "right", "mistakes"), CASES, ids=IDS)
def test_the_reference_passes_and_mistakes_get_their_hint(check, right, mistakes):
    feedback = check(right)
    assert feedback and repr(feedback).startswith("✅"), feedback.message
    for answer, fragment in mistakes:
        assert_fails(check(answer), fragment)


def test_other_forms_of_a_right_answer_pass():
    assert graders.check_fm_identity(fm_sparse)
    assert graders.check_fm_identity(lambda X, V: list(fm_pairwise(X, V)))
    assert graders.check_cross_layer(lambda *args: cross_layer(*args).tolist())
    assert graders.check_field_embedding(
        lambda v, w, t: np.einsum("nw,nwk->nk", w, t[v]).astype(np.float32))


def _raises(*args):
    raise ZeroDivisionError("the student's bug")


BROKEN = [lambda *a: None, _raises, lambda *a: ..., lambda *a: "abc", lambda *a: float("nan"),
          lambda *a: [[1, 2], [3]], lambda *a: {"x": 1}, lambda *a: 1j, lambda *a: 10 ** 400,
          lambda *a: np.zeros((2, 2, 2)), lambda *a: [None, 1.0], lambda *a: []]


@pytest.mark.parametrize(("check", "right", "mistakes"), CASES, ids=IDS)
def test_broken_answers_fail_without_raising(check, right, mistakes):
    for answer in BROKEN:
        assert_fails(check(answer))
    for answer in (None, 3, "fm", [1, 2]):
        assert_fails(check(answer), "should be a function")
    assert_fails(check(_raises), "ZeroDivisionError: the student's bug")


def test_graders_leave_nothing_changed_for_the_next_case():
    def vandal(X, V):
        result = fm_pairwise(X, V)
        X[:] = 0
        V[:] = 0
        return result

    assert graders.check_fm_identity(vandal)
