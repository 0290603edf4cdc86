"""The scaling chapter's graders: right answers pass, typical mistakes get their hint, and no
wrong answer makes a grader raise. The answers are written here as a student would."""

import math

import numpy as np
import pytest

from recsys_lab.exercises import Feedback
from recsys_lab.exercises import scaling as graders
from recsys_lab.retrieval import exact_top_k

GRADER_BUG = "bug in the check"


# --------------------------------------------------------------------------------------------
# predict_cost
# --------------------------------------------------------------------------------------------

def predict_cost(sizes, seconds, new_size):
    slope, intercept = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return np.exp(intercept + slope * np.log(new_size))


def predict_cost_log10(sizes, seconds, new_size):
    slope, intercept = np.polyfit(np.log10(sizes), np.log10(seconds), 1)
    return 10 ** (intercept + slope * math.log10(new_size))


def predict_cost_by_hand(sizes, seconds, new_size):  # the least-squares formulas written out
    x, y = np.log(sizes), np.log(seconds)
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    return float(np.exp(y.mean() + slope * (math.log(new_size) - x.mean())))


def predict_cost_linear(sizes, seconds, new_size):
    return np.polyval(np.polyfit(sizes, seconds, 1), new_size)


def predict_cost_without_intercept(sizes, seconds, new_size):
    slope, _ = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return new_size ** slope


def predict_cost_end_points(sizes, seconds, new_size):
    slope = math.log(seconds[-1] / seconds[0]) / math.log(sizes[-1] / sizes[0])
    return seconds[-1] * (new_size / sizes[-1]) ** slope


def predict_cost_in_logs(sizes, seconds, new_size):
    slope, intercept = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return intercept + slope * np.log(new_size)


# --------------------------------------------------------------------------------------------
# allreduce_bytes
# --------------------------------------------------------------------------------------------

def allreduce_bytes(n_parameters, n_workers, bytes_per_value):
    return 2 * (n_workers - 1) / n_workers * n_parameters * bytes_per_value


# --------------------------------------------------------------------------------------------
# ivf_recall
# --------------------------------------------------------------------------------------------

def ivf_recall(query, centroids, assignment, item_vectors, k, nprobe, by_distance=False,
               extra=0):
    if by_distance:
        closeness = -np.linalg.norm(centroids - query, axis=1)
    else:
        closeness = centroids @ query
    probed = np.argsort(-closeness)[:nprobe + extra]
    candidates = np.flatnonzero(np.isin(assignment, probed))
    scores = item_vectors @ query
    found = candidates[np.argsort(-scores[candidates])[:k]]
    exact = np.argsort(-scores)[:k]
    return len(set(found) & set(exact)) / k


def ivf_recall_with_the_library(query, centroids, assignment, item_vectors, k, nprobe):
    probed = np.argsort(-(centroids @ query))[:nprobe]
    candidates = np.flatnonzero(np.isin(assignment, probed))
    vectors = item_vectors.astype(np.float32)
    _, exact = exact_top_k(query[None].astype(np.float32), vectors, k)
    _, local = exact_top_k(query[None].astype(np.float32), vectors[candidates],
                           min(k, len(candidates)))
    return np.isin(exact[0], candidates[local[0]]).mean()


CASES = [
    (graders.check_predict_cost, predict_cost,
     [(predict_cost_linear, "linear extrapolation"),
      (lambda s, t, n: t[-1] * n / s[-1], "in proportion to the size"),
      (predict_cost_without_intercept, "without the intercept"),
      (lambda s, t, n: math.exp(np.polyfit(np.log(s), np.log(t), 1)[0] * math.log(n)),
       "without the intercept"),
      (predict_cost_in_logs, "take exp of it"),
      (predict_cost_end_points, "first and last points only"),
      (lambda s, t, n: 1.01 * predict_cost(s, t, n), "expected")]),
    (graders.check_allreduce_bytes, allreduce_bytes,
     [(lambda p, n, b: allreduce_bytes(p, n, b) / 2, "the factor 2"),
      (lambda p, n, b: 2 * p * b, "(N − 1) / N"),
      (lambda p, n, b: 2 * (n - 1) * p * b, "1/N of it"),
      (lambda p, n, b: 8 * allreduce_bytes(p, n, b), "in bits"),
      (lambda p, n, b: 2 * (n - 1) / n * p, "counts values"),
      (lambda p, n, b: allreduce_bytes(p, n, b) / 8, "already in bytes"),
      (lambda p, n, b: allreduce_bytes(p, n, b) + 1, "expected")]),
    (graders.check_ivf_recall, ivf_recall,
     [(lambda *a: ivf_recall(*a, by_distance=True), "L2 distance"),
      (lambda *a: ivf_recall(*a, extra=1), "nprobe + 1"),
      (lambda *a: ivf_recall(*a, extra=-1), "nprobe − 1"),
      (lambda *a: ivf_recall(*a) * a[4], "divide it by k"),
      (lambda *a: ivf_recall(*a) + 0.05, "expected")]),
]
IDS = ["predict_cost", "allreduce_bytes", "ivf_recall"]


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
    assert graders.check_predict_cost(predict_cost_log10)
    assert graders.check_predict_cost(predict_cost_by_hand)
    assert graders.check_predict_cost(lambda *a: np.array([predict_cost(*a)]))
    assert graders.check_allreduce_bytes(lambda p, n, b: int(allreduce_bytes(p, n, b)))
    assert graders.check_allreduce_bytes(lambda p, n, b: 2 * (n - 1) * (p / n) * b)
    assert graders.check_ivf_recall(ivf_recall_with_the_library)
    assert graders.check_ivf_recall(lambda *a: np.float32(ivf_recall(*a)))


def test_the_ivf_cases_separate_every_mistake_from_the_right_answer():
    # The grader can only name a mistake on a case where it changes the recall.
    for query, centroids, assignment, items, k, nprobe in graders._ivf_cases():
        arguments = (query, centroids, assignment, items, k, nprobe)
        right = ivf_recall(*arguments)
        wrong = [ivf_recall(*arguments, by_distance=True), ivf_recall(*arguments, extra=1)]
        if nprobe > 1:
            wrong.append(ivf_recall(*arguments, extra=-1))
        assert len({right, *wrong}) == len(wrong) + 1
        assert 0 < right < 1
        assert np.bincount(assignment, minlength=len(centroids)).min() > 0
        assert ivf_recall(query, centroids, assignment, items, k, len(centroids)) == 1.0


def test_the_cost_cases_end_at_twenty_thousand_items():
    for sizes, seconds, new_size in graders._cost_cases():
        assert new_size == 20_000 and len(sizes) == len(seconds) >= 3


def test_a_ring_of_one_worker_sends_nothing():
    assert graders._ring_bytes(1_000, 1, 4) == 0
    assert graders._ring_bytes(1_000, 2, 4) == 4_000  # half out and half back, each way


def _raises(*args):
    raise ZeroDivisionError("the student's bug")


BROKEN = [lambda *a: None, _raises, lambda *a: ..., lambda *a: "abc", lambda *a: float("nan"),
          lambda *a: float("inf"), lambda *a: [[1, 2], [3]], lambda *a: {"x": 1},
          lambda *a: 1j, lambda *a: 10 ** 400, lambda *a: np.zeros((2, 2, 2)),
          lambda *a: [None, 1.0], lambda *a: [], lambda *a: True, lambda *a: (1.0, 2.0)]


@pytest.mark.parametrize(("check", "right", "mistakes"), CASES, ids=IDS)
def test_broken_answers_fail_without_raising(check, right, mistakes):
    for answer in BROKEN:
        assert_fails(check(answer))
    for answer in (None, 3, "predict", [1, 2]):
        assert_fails(check(answer), "should be a function")
    assert_fails(check(_raises), "ZeroDivisionError: the student's bug")


def test_graders_leave_nothing_changed_for_the_next_case():
    def vandal(sizes, seconds, new_size):
        result = predict_cost(sizes, seconds, new_size)
        sizes[:] = 1
        seconds[:] = 0
        return result

    def ivf_vandal(query, centroids, assignment, items, k, nprobe):
        result = ivf_recall(query, centroids, assignment, items, k, nprobe)
        centroids[:] = 0
        assignment[:] = 0
        items[:] = 0
        return result

    assert graders.check_predict_cost(vandal)
    assert graders.check_ivf_recall(ivf_vandal)


def test_the_module_exposes_only_graders():
    public = [name for name in vars(graders) if not name.startswith("_")
              and callable(getattr(graders, name)) and name != "Feedback"
              and name != "Callable"]
    assert sorted(public) == ["check_allreduce_bytes", "check_ivf_recall",
                              "check_predict_cost"]
