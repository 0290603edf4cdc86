"""The exercise graders (recsys_lab.exercises): right answers pass, typical mistakes fail with
their hint, and no wrong answer of any kind makes a grader raise."""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import pkgutil
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import recsys_lab.exercises as exercises
from recsys_lab.datasets import synthetic_ratings
from recsys_lab.evaluate import Validation
from recsys_lab.exercises import (
    Feedback,
    as_float_array,
    attention,
    autoencoders,
    beyond,
    call_safely,
    check_cases,
    content,
    evaluation,
    features,
    gan,
    graph,
    mf,
    ncf,
    privacy,
    scaling,
    sequential,
    wrong_shape,
)
from recsys_lab.models.federated import federated_average
from recsys_lab.online import fold_in_rows
from recsys_lab.privacy import clip_rows
from recsys_lab.scratch.fm import cross_layer, field_embedding, fm_pairwise
from recsys_lab.scratch.gru import gru_step as gru_step_reset_after
from recsys_lab.splits import rating_split

MODULES = [importlib.import_module(f"recsys_lab.exercises.{info.name}")
           for info in pkgutil.iter_modules(exercises.__path__)]
MACHINERY = {"Feedback", "call_safely", "call_quietly", "same_values", "as_float_array",
             "wrong_shape", "check_cases"}
#: What the safety net of every grader says when the grader itself failed on an answer.
GRADER_BUG = "bug in the check"


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------------------------
# Right answers and typical mistakes, written as a student would
# --------------------------------------------------------------------------------------------

def hinge_gradients(p_u, q_i, q_j, margin):
    if margin + np.sum((p_u - q_i) ** 2) - np.sum((p_u - q_j) ** 2) <= 0:
        return np.zeros_like(p_u), np.zeros_like(q_i), np.zeros_like(q_j)
    return 2 * (q_j - q_i), 2 * (q_i - p_u), 2 * (p_u - q_j)


def recall_at_k(ranked, relevant, k):
    return len(set(ranked[:k]) & set(relevant)) / min(k, len(relevant))


def ndcg_at_k(ranked, relevant, k):
    dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(ranked[:k]) if i in set(relevant))
    return dcg / sum(1 / math.log2(r + 2) for r in range(min(k, len(relevant))))


def popularity_scores(train, n_items):
    return np.bincount(train["item"], minlength=n_items)


def sgd_update(r, mu, b_u, b_i, p_u, q_i, lr, reg):
    e = r - (mu + b_u + b_i + p_u @ q_i)
    return (b_u + lr * (e - reg * b_u), b_i + lr * (e - reg * b_i),
            p_u + lr * (e * q_i - reg * p_u), q_i + lr * (e * p_u - reg * q_i))


def sgd_update_with_new_p(r, mu, b_u, b_i, p_u, q_i, lr, reg):
    e = r - (mu + b_u + b_i + p_u @ q_i)
    p_u = p_u + lr * (e * q_i - reg * p_u)
    return (b_u + lr * (e - reg * b_u), b_i + lr * (e - reg * b_i), p_u,
            q_i + lr * (e * p_u - reg * q_i))


def als_user_solve(item_factors, targets, reg):
    k = item_factors.shape[1]
    system = item_factors.T @ item_factors + reg * len(targets) * np.eye(k)
    return np.linalg.solve(system, item_factors.T @ targets)


def als_user_solve_unweighted(item_factors, targets, reg):
    k = item_factors.shape[1]
    return np.linalg.solve(item_factors.T @ item_factors + reg * np.eye(k),
                           item_factors.T @ targets)


def most_similar(item_factors, item, n):
    unit = item_factors / np.linalg.norm(item_factors, axis=1, keepdims=True)
    similarity = unit @ unit[item]
    similarity[item] = -np.inf
    return np.argsort(-similarity)[:n]


def most_similar_by_dot(item_factors, item, n):
    similarity = item_factors @ item_factors[item]
    similarity[item] = -np.inf
    return np.argsort(-similarity)[:n]


def most_similar_with_itself(item_factors, item, n):
    unit = item_factors / np.linalg.norm(item_factors, axis=1, keepdims=True)
    return np.argsort(-(unit @ unit[item]))[:n]


def bpr_gradients(p_u, q_i, q_j):
    weight = -_sigmoid(-(p_u @ (q_i - q_j)))
    return weight * (q_i - q_j), weight * p_u, -weight * p_u


def sample_negatives(history, user, n, rng):
    unseen = np.setdiff1d(np.arange(history.shape[1]), history[user].indices)
    return rng.choice(unseen, size=n)


def masked_loss(ratings, predictions):
    return float((((ratings - predictions) ** 2) * (ratings != 0)).sum())


def gaussian_kl(mu, log_var):
    return 0.5 * np.sum(np.exp(log_var) + mu ** 2 - 1.0 - log_var, axis=-1)


def multinomial_log_likelihood(counts, logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return (counts * log_softmax).sum(axis=-1)


def multinomial_log_likelihood_naive(counts, logits):
    softmax = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    return (counts * np.log(softmax)).sum(axis=-1)


def kl_schedule(step, beta, anneal_steps):
    return beta * min(1.0, step / anneal_steps)


def output_length(length, width, stride, padding):
    return math.ceil(length / stride) if padding == "same" else (length - width) // stride + 1


def conv1d(x, kernel):
    width = kernel.shape[0]
    return np.stack([np.einsum("jc,jcf->f", x[t:t + width], kernel)
                     for t in range(len(x) - width + 1)])


def ridge_factors(x_warm, factors_warm, x_cold, l2):
    gram = x_warm.T @ x_warm + l2 * np.eye(x_warm.shape[1])
    return x_cold @ np.linalg.solve(gram, x_warm.T @ factors_warm)


def gru_step(x, h, kernel, recurrent_kernel, bias):
    n = h.shape[-1]
    from_x = x @ kernel + bias
    z = _sigmoid(from_x[:, :n] + h @ recurrent_kernel[:, :n])
    r = _sigmoid(from_x[:, n:2 * n] + h @ recurrent_kernel[:, n:2 * n])
    candidate = np.tanh(from_x[:, 2 * n:] + (r * h) @ recurrent_kernel[:, 2 * n:])
    return z * h + (1.0 - z) * candidate


def gru_step_as_keras_default(x, h, kernel, recurrent_kernel, bias):
    return gru_step_reset_after(x, h, kernel, recurrent_kernel, np.stack([bias, 0 * bias]))


def transition_counts(histories, n_items):
    counts = np.zeros((n_items, n_items))
    for history in histories:
        np.add.at(counts, (history[:-1], history[1:]), 1)
    return counts


def causal_mask(length):
    return np.tril(np.ones((length, length), dtype=bool))


def scaled_dot_product_attention(queries, keys, values, mask, scale=True):
    scores = queries @ np.swapaxes(keys, -1, -2)
    if scale:
        scores = scores / np.sqrt(queries.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -1e9)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ values, weights


def occlusion(score, history, item):
    variants = [history] + [np.delete(history, t) for t in range(len(history))]
    scores = np.asarray(score(variants))[:, item]
    return scores[0] - scores[1:]


def gan_value(p, q):
    d = np.divide(p, p + q, out=np.zeros_like(p), where=p + q > 0)
    real = np.where(p > 0, p * np.log(np.where(p > 0, d, 1.0)), 0.0)
    fake = np.where(q > 0, q * np.log(np.where(q > 0, 1.0 - d, 1.0)), 0.0)
    return float(real.sum() + fake.sum())


def logit_gradients(logits):
    return -_sigmoid(logits), -(1.0 - _sigmoid(logits))


def negative_mask(purchases, ratio, rng):
    return ((rng.random(purchases.shape) < ratio) & (purchases == 0)).astype(float)


def normalized_adjacency(interactions):
    n_users, n_items = interactions.shape
    adjacency = np.block([[np.zeros((n_users, n_users)), interactions],
                          [interactions.T, np.zeros((n_items, n_items))]])
    degree = adjacency.sum(axis=1)
    scale = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)
    return scale[:, None] * adjacency * scale[None, :]


def adjacency_of(interactions):
    n_users, n_items = interactions.shape
    return np.block([[np.zeros((n_users, n_users)), interactions],
                     [interactions.T, np.zeros((n_items, n_items))]])


def row_normalized_adjacency(interactions):
    adjacency = adjacency_of(interactions)
    degree = adjacency.sum(axis=1, keepdims=True)
    return np.divide(adjacency, degree, out=np.zeros_like(adjacency), where=degree > 0)


def adjacency_with_nan(interactions):
    adjacency = adjacency_of(interactions)
    scale = adjacency.sum(axis=1) ** -0.5  # 1/sqrt(0) = inf for a node with no edge
    return scale[:, None] * adjacency * scale[None, :]


def normalized_adjacency_items_first(interactions):
    return normalized_adjacency(interactions.T)


def layer_combination(normalized, embeddings, n_layers):
    total = layer = embeddings
    for _ in range(n_layers):
        layer = normalized @ layer
        total = total + layer
    return total / (n_layers + 1)


def last_layer(normalized, embeddings, n_layers):
    return np.linalg.matrix_power(normalized, n_layers) @ embeddings


def summed_layers(normalized, embeddings, n_layers):
    return layer_combination(normalized, embeddings, n_layers) * (n_layers + 1)


def layers_divided_by_l(normalized, embeddings, n_layers):
    return summed_layers(normalized, embeddings, n_layers) / max(n_layers, 1)


def layers_without_e0(normalized, embeddings, n_layers):
    layers = [np.linalg.matrix_power(normalized, k) @ embeddings
              for k in range(1, n_layers + 1)]
    return np.mean(layers, axis=0) if layers else embeddings


def layers_with_elementwise_power(normalized, embeddings, n_layers):
    return np.mean([(normalized ** k) @ embeddings for k in range(n_layers + 1)], axis=0)


def smoothing_matrix(normalized, n_layers):
    return sum(np.linalg.matrix_power(normalized, k)
               for k in range(n_layers + 1)) / (n_layers + 1)


def final_gradient(final, user, positive, negative):
    e_u, e_i, e_j = final[user], final[positive], final[negative]
    w = -_sigmoid(-(e_u @ (e_i - e_j)))
    gradient = np.zeros_like(final)
    gradient[user] = w * (e_i - e_j)
    gradient[positive] = w * e_u
    gradient[negative] = -w * e_u
    return gradient


def graph_bpr_gradient(normalized, embeddings, n_layers, user, positive, negative):
    smoothing = smoothing_matrix(normalized, n_layers)
    final = smoothing @ embeddings
    return smoothing.T @ final_gradient(final, user, positive, negative)


def gradient_of_final_embeddings(normalized, embeddings, n_layers, user, positive, negative):
    final = smoothing_matrix(normalized, n_layers) @ embeddings
    return final_gradient(final, user, positive, negative)


def graph_bpr_gradient_without_mean(normalized, embeddings, n_layers, user, positive,
                                    negative):
    summed = smoothing_matrix(normalized, n_layers) * (n_layers + 1)
    return summed.T @ final_gradient(summed @ embeddings, user, positive, negative)


def graph_bpr_loss(normalized, embeddings, n_layers, user, positive, negative):
    final = smoothing_matrix(normalized, n_layers) @ embeddings
    x = final[user] @ (final[positive] - final[negative])
    return np.log1p(np.exp(-x))  # −log σ(x)


# --------------------------------------------------------------------------------------------
# Every grader, with the data the chapters would pass it
# --------------------------------------------------------------------------------------------

POPULARITY_TRAIN = pd.DataFrame({"user": [0, 1, 1, 2, 3], "item": [2, 2, 0, 5, 2]})
N_ITEMS = 7
ITEM_FACTORS = (np.random.default_rng(0).normal(size=(60, 4))
                * np.random.default_rng(1).uniform(0.2, 3.0, size=(60, 1)))
DENSITY_SIZES = (100, 10, 100)  # n_ratings, n_users, n_items: density 0.1
GRU_SIZES = (64, 100)  # input_dim, units


@functools.cache
def overfitting_data():
    """A small planted problem on which λ = 0.001 overfits and λ = 0.2 does not (k = 20)."""
    data = synthetic_ratings(n_users=120, n_items=80, density=0.3, noise=0.8, seed=0)
    train, valid = rating_split(data.ratings, seed=1)
    return train, valid, data.n_users, data.n_items


def grade_overfitting(value):
    train, valid, n_users, n_items = overfitting_data()
    return mf.check_overfitting_reg(value, train, valid, n_users, n_items, n_factors=20)


@dataclass
class Grader:
    """A check with the chapter's extra arguments bound, a right answer and typical mistakes."""

    grade: object  # answer -> Feedback
    right: object
    mistakes: list = field(default_factory=list)  # (answer, fragment of the message)
    takes_value: bool = False  # the answer is a value, not a function


def ivf_recall(query, centroids, assignment, item_vectors, k, nprobe, by_distance=False,
               extra=0):
    closeness = (-np.linalg.norm(centroids - query, axis=1) if by_distance
                 else centroids @ query)
    cells = np.argsort(-closeness)[:nprobe + extra]
    candidates = np.flatnonzero(np.isin(assignment, cells))
    scores = item_vectors @ query
    found = candidates[np.argsort(-scores[candidates])[:k]]
    return len(set(found) & set(np.argsort(-scores)[:k])) / k


def fold_in(item_factors, films, alpha, l2):
    mine = item_factors[films]
    system = item_factors.T @ item_factors + alpha * mine.T @ mine
    return np.linalg.solve(system + l2 * np.eye(item_factors.shape[1]),
                           (1 + alpha) * mine.sum(axis=0))


def group_popularity(history, groups, shrinkage, only_active=True):
    history = history.toarray()
    active = history.sum(axis=1) > 0 if only_active else np.ones(len(history), bool)
    n_groups = int(groups.max()) + 1
    counts = np.vstack([history[(groups == g) & active].sum(axis=0) for g in range(n_groups)])
    sizes = np.bincount(groups[active], minlength=n_groups)[:, None]
    share = history[active].sum(axis=0) / active.sum()
    return (counts + shrinkage * share) / (sizes + shrinkage)


def group_popularity_counting_new_users(history, groups, shrinkage):
    return group_popularity(history, groups, shrinkage, only_active=False)


def exposure_gini(exposure, corrected=False, sort=True):
    x = np.asarray(exposure, dtype=float)
    x = np.sort(x) if sort else x
    n = len(x)
    return ((2 * np.arange(1, n + 1) - n - 1) * x).sum() / ((n - corrected) * x.sum())


def calibration_kl(p, q, alpha, uniform=False):
    smoothed = (1 - alpha) * q + alpha * (np.full_like(p, 1 / len(p)) if uniform else p)
    kept = p > 0
    return float((p[kept] * np.log(p[kept] / smoothed[kept])).sum())


def mmr_step(relevance, similarity, selected, weight, closest=np.max, exclude=True):
    relevance = np.asarray(relevance, dtype=float)
    near = closest(similarity[:, selected], axis=1) if selected else np.zeros(len(relevance))
    gain = (1 - weight) * relevance - weight * near
    if exclude:
        gain[selected] = -np.inf
    return int(np.argmax(gain))


GRADERS = {
    "evaluation.check_recall_at_k": Grader(
        evaluation.check_recall_at_k, recall_at_k,
        [(lambda ranked, relevant, k: len(set(ranked[:k]) & set(relevant)) / k,
          "min(k, len(relevant))")]),
    "evaluation.check_ndcg_at_k": Grader(
        evaluation.check_ndcg_at_k, ndcg_at_k,
        [(recall_at_k, "log2(p + 2)")]),
    "evaluation.check_density": Grader(
        lambda value: evaluation.check_density(value, *DENSITY_SIZES), 0.1,
        [(0.9, "sparsity"), (10.0, "is not the density")], takes_value=True),
    "evaluation.check_popularity_scores": Grader(
        lambda fn: evaluation.check_popularity_scores(fn, POPULARITY_TRAIN, N_ITEMS),
        popularity_scores,
        [(lambda train, n_items: np.bincount(train["item"]), "minlength"),
         (lambda train, n_items: np.ones(n_items), "should score")]),
    "mf.check_sgd_update": Grader(
        mf.check_sgd_update, sgd_update,
        [(sgd_update_with_new_p, "*new* p_u"),
         (lambda *args: sgd_update(*args)[:3], "four updated values")]),
    "mf.check_als_user_solve": Grader(
        mf.check_als_user_solve, als_user_solve,
        [(als_user_solve_unweighted, "λ·n_u·I"),
         (lambda q, y, reg: als_user_solve(q, y, reg)[:-1], "of shape")]),
    "mf.check_overfitting_reg": Grader(
        grade_overfitting, 0.001,
        [(0.2, "still generalises"), (1.0, "underfitting"), (-0.1, "positive"),
         (0.0, "positive")], takes_value=True),
    "mf.check_most_similar": Grader(
        lambda fn: mf.check_most_similar(fn, ITEM_FACTORS), most_similar,
        [(most_similar_by_dot, "dot product"),
         (most_similar_with_itself, "own list")]),
    "ncf.check_bpr_gradients": Grader(
        ncf.check_bpr_gradients, bpr_gradients,
        [(lambda p, qi, qj: tuple(-g for g in bpr_gradients(p, qi, qj)), "wrong sign"),
         (lambda p, qi, qj: bpr_gradients(p, qi, qj)[:2], "three arrays")]),
    "ncf.check_sample_negatives": Grader(
        ncf.check_sample_negatives, sample_negatives,
        [(lambda history, user, n, rng: rng.integers(0, history.shape[1], n), "item 7"),
         (lambda history, user, n, rng: np.full(n, sample_negatives(history, user, 1, rng)[0]),
          "uniform")]),
    "ncf.check_gmf_as_mf": Grader(
        ncf.check_gmf_as_mf, lambda P, Q, h: (P * h, Q),
        [(lambda P, Q, h: (P, Q), "fold h"), (lambda P, Q, h: P * h, "two matrices")]),
    "ncf.check_hinge_gradients": Grader(
        ncf.check_hinge_gradients, hinge_gradients,
        [(lambda p, qi, qj, margin: (2 * (qj - qi), 2 * (qi - p), 2 * (p - qj)), "flat there"),
         (lambda p, qi, qj, margin: tuple(-g for g in hinge_gradients(p, qi, qj, margin)),
          "wrong sign")]),
    "ncf.check_distance_as_dot_product": Grader(
        ncf.check_distance_as_dot_product,
        lambda P, Q: (np.c_[2 * P, np.ones(len(P))], np.c_[Q, -(Q ** 2).sum(axis=1)]),
        [(lambda P, Q: (P, Q), "length is missing"),
         (lambda P, Q: (np.c_[P, np.ones(len(P))], np.c_[Q, -(Q ** 2).sum(axis=1)]),
          "not constant")]),
    "ncf.check_random_sampled_hit_rate": Grader(
        ncf.check_random_sampled_hit_rate, 10 / 101,
        [(0.1, "101 items"), (10 / 1682, "uniform over")], takes_value=True),
    "autoencoders.check_masked_loss": Grader(
        autoencoders.check_masked_loss, masked_loss,
        [(lambda r, p: float(((r - p) ** 2).sum()), "ratings != 0")]),
    "autoencoders.check_gaussian_kl": Grader(
        autoencoders.check_gaussian_kl, gaussian_kl,
        [(lambda mu, log_var: float(gaussian_kl(mu, log_var).sum()), "one value per row"),
         (lambda mu, log_var: 2 * gaussian_kl(mu, log_var), "log σ²")]),
    "autoencoders.check_multinomial_log_likelihood": Grader(
        autoencoders.check_multinomial_log_likelihood, multinomial_log_likelihood,
        [(multinomial_log_likelihood_naive, "log-sum-exp")]),
    "autoencoders.check_kl_schedule": Grader(
        autoencoders.check_kl_schedule, kl_schedule,
        [(lambda step, beta, anneal_steps: beta * step / anneal_steps, "cap")]),
    "content.check_output_length": Grader(
        content.check_output_length, output_length,
        [(lambda length, width, stride, padding: length - width, "'valid'")]),
    "content.check_conv1d": Grader(
        content.check_conv1d, conv1d,
        [(lambda x, kernel: conv1d(x, kernel[::-1]), "flipped the kernel"),
         (lambda x, kernel: conv1d(x, kernel)[::-1], "reverse order")]),
    "content.check_ridge_factors": Grader(
        content.check_ridge_factors, ridge_factors,
        [(lambda xw, fw, xc, l2: xc @ np.linalg.lstsq(xw, fw, rcond=None)[0], "ridge penalty")]),
    "sequential.check_gru_step": Grader(
        sequential.check_gru_step, gru_step,
        [(gru_step_as_keras_default, "reset-after variant"),
         (lambda x, h, *weights: h, "wrong new state")]),
    "sequential.check_transition_counts": Grader(
        sequential.check_transition_counts, transition_counts,
        [(lambda histories, n: transition_counts(histories, n).T, "swapped"),
         (lambda histories, n: transition_counts([np.concatenate(histories)], n),
          "never across two users")]),
    "sequential.check_gru_parameter_count": Grader(
        lambda value: sequential.check_gru_parameter_count(value, *GRU_SIZES),
        3 * (64 * 100 + 100 * 100 + 2 * 100),
        [(3 * (64 * 100 + 100 * 100 + 100), "two bias vectors"),
         (4 * (64 * 100 + 100 * 100 + 100), "LSTM"), (12_345, "is not it"),
         (49_800.5, "whole number")], takes_value=True),
    "attention.check_causal_mask": Grader(
        attention.check_causal_mask, causal_mask,
        [(lambda n: np.triu(np.ones((n, n), dtype=bool)), "wrong at"),
         (lambda n: np.ones((n, n)), "wrong at")]),
    "attention.check_attention": Grader(
        attention.check_attention, scaled_dot_product_attention,
        [(lambda q, k, v, mask: scaled_dot_product_attention(q, k, v, mask, scale=False),
          "sqrt(d_k)"),
         (lambda q, k, v, mask: scaled_dot_product_attention(q, k, v, None), "differs")]),
    "attention.check_occlusion": Grader(
        attention.check_occlusion, occlusion,
        [(lambda score, history, item: -occlusion(score, history, item), "sign is flipped")]),
    "gan.check_gan_value": Grader(
        gan.check_gan_value, gan_value,
        [(lambda p, q: gan_value(p, np.zeros_like(q)), "−log 4")]),
    "gan.check_logit_gradients": Grader(
        gan.check_logit_gradients, logit_gradients,
        [(lambda logits: logit_gradients(logits)[::-1], "σ'(t)"),
         (lambda logits: logit_gradients(logits)[0], "pair")]),
    "gan.check_negative_mask": Grader(
        gan.check_negative_mask, negative_mask,
        [(lambda purchases, ratio, rng: (rng.random(purchases.shape) < ratio).astype(float),
          "interacted"),
         (lambda purchases, ratio, rng: negative_mask(purchases, ratio,
                                                      np.random.default_rng(99)), "same mask")]),
    "graph.check_normalized_adjacency": Grader(
        graph.check_normalized_adjacency, normalized_adjacency,
        [(adjacency_of, "not normalised"),
         (row_normalized_adjacency, "row normalisation"),
         (adjacency_with_nan, "zero degree"),
         (lambda r: normalized_adjacency(r)[:r.shape[0], r.shape[0]:], "user–item block"),
         (normalized_adjacency_items_first, "wrong order"),
         (lambda r: normalized_adjacency(r) + np.diag(adjacency_of(r).sum(axis=1) == 0),
          "no edge"),
         (lambda r: normalized_adjacency(r) ** 2, "square root"),
         (lambda r: normalized_adjacency(r) + 0.1 * adjacency_of(r), "is wrong at")]),
    "graph.check_layer_combination": Grader(
        graph.check_layer_combination, layer_combination,
        [(last_layer, "only the last layer"), (summed_layers, "without dividing"),
         (layers_divided_by_l, "divided by L"), (layers_without_e0, "left out E⁰"),
         (layers_with_elementwise_power, "element-wise power"),
         (lambda a, e, n: np.mean([e] + [(a ** k) @ e for k in range(1, n + 1)], axis=0),
          "element-wise power"),
         (lambda a, e, n: np.stack([np.linalg.matrix_power(a, k) @ e for k in range(n + 1)]),
          "stacked"),
         (lambda a, e, n: layer_combination(a, e, n) + (n == 0), "unchanged")]),
    "privacy.check_fedavg_update": Grader(
        privacy.check_fedavg_update, lambda q, u, c: q + federated_average(u, c),
        [(lambda q, u, c: q + u.mean(axis=0), "over all sampled clients"),
         (lambda q, u, c: federated_average(u, c), "averaged update only"),
         (lambda q, u, c: q + u.sum(axis=0), "summed")]),
    "privacy.check_clip_gradients": Grader(
        privacy.check_clip_gradients, lambda g, c: clip_rows(g, c)[0],
        [(lambda g, c: np.clip(g, -c, c), "each entry"),
         (lambda g, c: g * c / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12),
          "small ones up"),
         (lambda g, c: g * min(1.0, c / np.linalg.norm(g)), "whole batch")]),
    "privacy.check_fold_in": Grader(
        privacy.check_fold_in,
        lambda q, y, l2, l2_bias: fold_in_rows(np.zeros(len(y), int), np.arange(len(y)), y, q,
                                               1, l2, l2_bias)[0],
        [(lambda q, y, l2, l2_bias: np.linalg.solve(
            np.c_[q, np.ones(len(q))].T @ np.c_[q, np.ones(len(q))]
            + np.diag(np.r_[np.full(q.shape[1], l2), l2_bias]), np.c_[q, np.ones(len(q))].T @ y),
          "multiply"),
         (lambda q, y, l2, l2_bias: fold_in_rows(np.zeros(len(y), int), np.arange(len(y)), y,
                                                 q, 1, l2, l2_bias)[0][:-1], "of shape")]),
    "features.check_fm_identity": Grader(
        features.check_fm_identity, fm_pairwise,
        [(lambda x, v: 2 * fm_pairwise(x, v), "forgot the ½")]),
    "features.check_cross_layer": Grader(
        features.check_cross_layer, cross_layer,
        [(lambda x0, x, w, b: x0 * (x @ w + b), "left out the residual")]),
    "features.check_field_embedding": Grader(
        features.check_field_embedding, field_embedding,
        [(lambda values, weights, table: table[values].sum(axis=1), "plain sum")]),
    "features.check_fold_in": Grader(
        features.check_fold_in, fold_in,
        [(lambda v, films, a, l2: np.linalg.solve(v.T @ v + a * v[films].T @ v[films],
                                                   (1 + a) * v[films].sum(0)), "penalty")]),
    "features.check_group_popularity": Grader(
        features.check_group_popularity, group_popularity,
        [(group_popularity_counting_new_users, "counts in neither")]),
    "graph.check_graph_bpr_gradient": Grader(
        graph.check_graph_bpr_gradient, graph_bpr_gradient,
        [(gradient_of_final_embeddings, "final embeddings"),
         (lambda a, e, n, u, i, j: final_gradient(e, u, i, j), "layer-0 embeddings"),
         (lambda *args: -graph_bpr_gradient(*args), "sign is flipped"),
         (lambda a, e, n, u, i, j: (n + 1) * graph_bpr_gradient(a, e, n, u, i, j), "1/(L + 1)"),
         (graph_bpr_gradient_without_mean, "1/(L + 1)"),
         (lambda a, e, n, u, i, j: graph_bpr_gradient(a, e, n, u, i, j)[[u, i, j]],
          "one gradient row per node"),
         (lambda *args: 2 * graph_bpr_gradient(*args), "is wrong")]),
    "beyond.check_exposure_gini": Grader(
        beyond.check_exposure_gini, exposure_gini,
        [(functools.partial(exposure_gini, corrected=True), "not divided by n − 1"),
         (functools.partial(exposure_gini, sort=False), "sort the counts")]),
    "beyond.check_calibration_kl": Grader(
        beyond.check_calibration_kl, calibration_kl,
        [(functools.partial(calibration_kl, uniform=True), "not a uniform mix"),
         (lambda p, q, a: calibration_kl((1 - a) * q + a * p, p, 1e-12), "not KL(q̃ ‖ p)")]),
    "beyond.check_mmr_step": Grader(
        beyond.check_mmr_step, mmr_step,
        [(functools.partial(mmr_step, closest=np.mean), "largest similarity"),
         (functools.partial(mmr_step, exclude=False), "never one already selected"),
         (lambda r, s, sel, w: mmr_step(r, s, sel, 1 - w), "(1 − weight)")]),
    "scaling.check_predict_cost": Grader(
        scaling.check_predict_cost,
        lambda s, t, n: np.exp(np.polyval(np.polyfit(np.log(s), np.log(t), 1), np.log(n))),
        [(lambda s, t, n: np.polyval(np.polyfit(s, t, 1), n), "linear extrapolation"),
         (lambda s, t, n: n ** np.polyfit(np.log(s), np.log(t), 1)[0],
          "without the intercept")]),
    "scaling.check_allreduce_bytes": Grader(
        scaling.check_allreduce_bytes, lambda p, n, b: 2 * (n - 1) / n * p * b,
        [(lambda p, n, b: (n - 1) / n * p * b, "the factor 2"),
         (lambda p, n, b: 2 * p * b, "(N − 1) / N"),
         (lambda p, n, b: 16 * (n - 1) / n * p * b, "in bits")]),
    "scaling.check_ivf_recall": Grader(
        scaling.check_ivf_recall, ivf_recall,
        [(functools.partial(ivf_recall, by_distance=True), "L2 distance"),
         (functools.partial(ivf_recall, extra=1), "nprobe + 1")]),
}
FUNCTION_GRADERS = [name for name, grader in GRADERS.items() if not grader.takes_value]
VALUE_GRADERS = [name for name, grader in GRADERS.items() if grader.takes_value]


def assert_fails(feedback, fragment: str = "") -> None:
    """A failing Feedback with a message (containing ``fragment``), not the safety net's."""
    assert isinstance(feedback, Feedback), f"returned {feedback!r}, not a Feedback"
    assert not feedback.passed and not feedback
    assert feedback.message.strip()
    assert fragment in feedback.message, feedback.message
    assert GRADER_BUG not in feedback.message, feedback.message


def test_every_grader_is_covered():
    checks = {f"{module.__name__.rsplit('.', 1)[1]}.{name}" for module in MODULES
              for name, value in vars(module).items()
              if name.startswith("check_") and inspect.isfunction(value)}
    assert checks == set(GRADERS)


# --------------------------------------------------------------------------------------------
# (a) right answers pass; (b) typical mistakes fail with their hint
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", GRADERS)
def test_right_answer_passes(name):
    feedback = GRADERS[name].grade(GRADERS[name].right)
    assert isinstance(feedback, Feedback)
    assert feedback.passed and feedback, feedback.message
    assert repr(feedback).startswith("✅")


@pytest.mark.parametrize("name", GRADERS)
def test_typical_mistakes_fail_with_a_hint(name):
    grader = GRADERS[name]
    assert grader.mistakes
    for answer, fragment in grader.mistakes:
        feedback = grader.grade(answer)
        assert_fails(feedback, fragment)
        assert repr(feedback).startswith("❌")


def test_right_answers_in_other_forms_pass():
    assert evaluation.check_density(np.float64(0.1), *DENSITY_SIZES)
    assert evaluation.check_density(np.array([0.1]), *DENSITY_SIZES)
    assert sequential.check_gru_parameter_count(49_800.0, *GRU_SIZES)
    assert sequential.check_gru_parameter_count(np.int64(49_800), *GRU_SIZES)
    assert ncf.check_gmf_as_mf(lambda P, Q, h: (P, Q * h))
    assert ncf.check_gmf_as_mf(lambda P, Q, h: [(P * h).tolist(), Q.tolist()])
    assert attention.check_causal_mask(lambda n: np.tril(np.ones((n, n), dtype=int)))
    assert attention.check_attention(lambda q, k, v, mask: scaled_dot_product_attention(
        q, k, v, mask)[0])
    assert attention.check_occlusion(lambda score, history, item: list(
        occlusion(score, history, item)))
    assert mf.check_most_similar(lambda factors, item, n: most_similar(factors, item, n)
                                 .astype(float).tolist(), ITEM_FACTORS)
    assert ncf.check_sample_negatives(lambda *args: sample_negatives(*args).astype(float))
    assert gan.check_negative_mask(lambda *args: negative_mask(*args).astype(bool))
    assert sequential.check_transition_counts(
        lambda histories, n: sp.csr_matrix(transition_counts(histories, n)))
    assert graph.check_normalized_adjacency(lambda r: sp.csr_matrix(normalized_adjacency(r)))
    assert graph.check_normalized_adjacency(lambda r: sp.coo_array(normalized_adjacency(r)))
    assert graph.check_normalized_adjacency(lambda r: normalized_adjacency(r).tolist())
    assert graph.check_normalized_adjacency(
        lambda r: normalized_adjacency(r.astype(int)).astype(np.float32))
    assert graph.check_layer_combination(lambda a, e, n: layer_combination(a, e, n).tolist())
    assert graph.check_graph_bpr_gradient(lambda *args: list(graph_bpr_gradient(*args)))


def test_the_adjacency_cases_hold_a_user_and_an_item_with_no_interaction():
    for interactions in graph._adjacency_cases():
        assert (interactions.sum(axis=1) == 0).any() and (interactions.sum(axis=0) == 0).any()
        assert interactions.shape[0] != interactions.shape[1]  # the block is told apart
        expected = normalized_adjacency(interactions)
        isolated = adjacency_of(interactions).sum(axis=1) == 0
        assert not expected[isolated].any() and not expected[:, isolated].any()
        assert np.isfinite(expected).all()


def test_the_layer_cases_cover_zero_one_and_three_layers():
    assert sorted(n_layers for _, _, n_layers in graph._layer_cases()) == [0, 1, 3]


def test_the_graph_bpr_gradient_matches_central_finite_differences():
    """The grader's reference (and the right answer above) is the derivative of the loss."""
    step = 1e-6
    for args in graph._gradient_cases():
        normalized, embeddings, n_layers, user, positive, negative = args
        numeric = np.zeros_like(embeddings)
        for index in np.ndindex(*embeddings.shape):
            shifted = [embeddings.copy(), embeddings.copy()]
            shifted[0][index] += step
            shifted[1][index] -= step
            up, down = (graph_bpr_loss(normalized, e, n_layers, user, positive, negative)
                        for e in shifted)
            numeric[index] = (up - down) / (2 * step)
        reference = graph._reference_graph_bpr_gradient(*args)
        np.testing.assert_allclose(reference, numeric, atol=1e-7)
        np.testing.assert_allclose(graph_bpr_gradient(*args), numeric, atol=1e-7)
        if n_layers > 0:  # the propagation spreads the gradient beyond the triple's rows
            assert np.count_nonzero(np.abs(reference).sum(axis=1) > 1e-12) > 3


def test_graph_graders_leave_the_arguments_alone():
    def vandal(normalized, embeddings, *args):
        result = (layer_combination(normalized, embeddings, args[0]) if len(args) == 1
                  else graph_bpr_gradient(normalized, embeddings, *args))
        normalized[:] = 0
        embeddings[:] = 0
        return result

    assert graph.check_layer_combination(vandal)
    assert graph.check_graph_bpr_gradient(vandal)
    for normalized, embeddings, *_ in graph._layer_cases() + graph._gradient_cases():
        assert normalized.any() and embeddings.any()


def test_overfitting_reg_accepts_a_validation_callable_and_the_default_factors():
    train, valid, n_users, n_items = overfitting_data()
    assert mf.check_overfitting_reg(0.001, train, Validation(train, valid, "RATING"),
                                    n_users, n_items, n_factors=20)
    feedback = mf.check_overfitting_reg(0.001, train, valid, n_users, n_items)
    assert feedback and "training RMSE" in feedback.message


def test_overfitting_reg_reports_a_fit_that_fails():
    train, valid, n_users, n_items = overfitting_data()
    assert_fails(mf.check_overfitting_reg(0.001, train, valid.drop(columns="rating"), n_users,
                                          n_items), "failed")
    assert_fails(mf.check_overfitting_reg(0.001, train, valid, n_users, n_items, n_factors=0),
                 "n_factors")


# --------------------------------------------------------------------------------------------
# (c) no answer makes a grader raise
# --------------------------------------------------------------------------------------------

def _raises(*args):
    raise ZeroDivisionError("the student's bug")


class NotANumber:
    def __float__(self):
        raise RuntimeError("no float")

    def __repr__(self):
        raise RuntimeError("no repr")


BROKEN_FUNCTIONS = {
    "returns a ragged nested list": lambda *args: [[1, 2], [3]],
    "returns None": lambda *args: None,
    "raises": _raises,
    "is unfinished": lambda *args: ...,
    "returns a string": lambda *args: "abc",
    "returns NaN": lambda *args: float("nan"),
    "returns infinity": lambda *args: float("inf"),
    "returns a complex number": lambda *args: 1j,
    "returns a dict": lambda *args: {"answer": 1},
    "returns an empty list": lambda *args: [],
    "returns a tuple of the wrong size": lambda *args: (1.0, 2.0, 3.0, 4.0, 5.0),
    "returns a pair of ragged lists": lambda *args: ([[1, 2], [3]], [[1], [2, 3]]),
    "returns a tuple of None": lambda *args: (None, None, None, None),
    "returns a list holding None": lambda *args: [None, 1.0],
    "returns a huge integer": lambda *args: 10 ** 400,
    "returns a 3-d array": lambda *args: np.zeros((2, 2, 2)),
    "returns an object that is not a number": lambda *args: NotANumber(),
}
NOT_FUNCTIONS = {"None": None, "a number": 3, "a string": "my_function", "a list": [1, 2]}
BROKEN_VALUES = {
    "a ragged list": [[1, 2], [3]],
    "None": None,
    "a string": "abc",
    "a numeric string": "0.1",
    "NaN": float("nan"),
    "infinity": float("inf"),
    "a boolean": True,
    "a list of two numbers": [0.1, 0.2],
    "a dict": {"answer": 0.1},
    "unfinished": ...,
    "a complex number": 1j,
    "a huge integer": 10 ** 400,
    "a function": len,
    "an object that is not a number": NotANumber(),
}


@pytest.mark.parametrize("name", FUNCTION_GRADERS)
@pytest.mark.parametrize("broken", BROKEN_FUNCTIONS)
def test_a_broken_function_fails_without_raising(name, broken):
    assert_fails(GRADERS[name].grade(BROKEN_FUNCTIONS[broken]))


@pytest.mark.parametrize("name", FUNCTION_GRADERS)
@pytest.mark.parametrize("answer", NOT_FUNCTIONS)
def test_an_answer_that_is_not_a_function_fails_without_raising(name, answer):
    assert_fails(GRADERS[name].grade(NOT_FUNCTIONS[answer]), "should be a function")


@pytest.mark.parametrize("name", VALUE_GRADERS)
@pytest.mark.parametrize("answer", BROKEN_VALUES)
def test_a_value_that_is_not_a_number_fails_without_raising(name, answer):
    assert_fails(GRADERS[name].grade(BROKEN_VALUES[answer]))


def test_the_messages_name_what_was_wrong():
    assert_fails(evaluation.check_recall_at_k(lambda *args: [[1, 2], [3]]), "returned [[1, 2]")
    assert_fails(evaluation.check_density("abc", *DENSITY_SIZES), "expected a number, got 'abc'")
    assert_fails(evaluation.check_density(None, *DENSITY_SIZES), "got None")
    assert_fails(sequential.check_transition_counts(lambda *args: [[1, 2], [3]]), "no numbers")
    assert_fails(mf.check_sgd_update(lambda *args: None), "got None")
    assert_fails(mf.check_als_user_solve(_raises), "ZeroDivisionError: the student's bug")
    assert_fails(gan.check_logit_gradients(lambda logits: (1.0, 2.0, 3.0)), "got 3 values")
    assert_fails(attention.check_causal_mask(None),
                 "causal_mask should be a function (def causal_mask(...): ...), got None")


def test_graders_do_not_change_the_chapters_data():
    train = POPULARITY_TRAIN.copy()

    def vandal(frame, n_items):
        frame["item"] = 0
        return popularity_scores(frame, n_items)

    assert not evaluation.check_popularity_scores(vandal, train, N_ITEMS)
    pd.testing.assert_frame_equal(train, POPULARITY_TRAIN)
    factors = ITEM_FACTORS.copy()

    def vandal_factors(item_factors, item, n):
        item_factors[:] = 0
        return most_similar(ITEM_FACTORS, item, n)

    assert mf.check_most_similar(vandal_factors, factors)
    np.testing.assert_array_equal(factors, ITEM_FACTORS)


def test_the_safety_net_turns_a_failing_check_into_feedback():
    @exercises._grader
    def check_something(answer):
        """Grade something."""
        return Feedback(True, "fine") if answer else 1 / 0

    assert check_something(1)
    feedback = check_something(0)
    assert not feedback and GRADER_BUG in feedback.message
    assert "ZeroDivisionError" in feedback.message
    assert check_something.__name__ == "check_something"
    assert check_something.__doc__ == "Grade something."


# --------------------------------------------------------------------------------------------
# The shared machinery
# --------------------------------------------------------------------------------------------

def test_as_float_array_reads_numbers_and_nothing_else():
    np.testing.assert_array_equal(as_float_array([1, 2]), [1.0, 2.0])
    np.testing.assert_array_equal(as_float_array([True, False]), [1.0, 0.0])
    np.testing.assert_array_equal(as_float_array(sp.csr_matrix(np.eye(2))), np.eye(2))
    assert as_float_array(np.float32(1.5)).dtype == float
    assert np.isnan(as_float_array(float("nan")))
    for value in (None, ..., "1.5", b"1", [[1, 2], [3]], [1, None], 1j, [1j], {"a": 1},
                  object(), NotANumber(), 10 ** 400, np.array(["1"]),
                  np.datetime64("2020-01-01"), (x for x in range(3))):
        assert as_float_array(value) is None, value


def test_wrong_shape_and_call_safely():
    assert wrong_shape(as_float_array([1, 2]), (2,), "a vector") is None
    short = wrong_shape(as_float_array([1]), (2,), "a vector")
    assert not short and short.message == "expected a vector of shape (2,), got shape (1,)."
    assert "no numbers" in wrong_shape(None, (2,), "a vector").message
    assert call_safely(lambda a, b: a + b, 1, 2) == (3, None)
    assert call_safely(_raises) == (None, "ZeroDivisionError: the student's bug")
    result, error = call_safely(None, 1)
    assert result is None and error == "TypeError: 'NoneType' object is not callable"


def test_check_cases():
    cases = [(1, 2), (3, 4)]
    assert check_cases("add", lambda a, b: a + b, cases, lambda a, b: a + b, "add them")
    assert check_cases("add", lambda a, b: np.array([a + b]), cases, lambda a, b: a + b, "")
    wrong = check_cases("add", lambda a, b: a * b, cases, lambda a, b: a + b, "add them")
    assert not wrong and "add(1, 2) returned 2, expected 3.0000. Hint: add them" in wrong.message
    assert not check_cases("add", lambda a, b: True, cases, lambda a, b: 1, "")
    for answer in ("add", None, 3):
        assert_fails(check_cases("add", answer, cases, lambda a, b: a + b, ""), "function")


# --------------------------------------------------------------------------------------------
# The modules hold graders only
# --------------------------------------------------------------------------------------------

def _public(module):
    """The module's public names, without imported modules, classes and typing names."""
    return {name: value for name, value in vars(module).items()
            if not name.startswith("_") and not inspect.ismodule(value)
            and type(value).__module__ != "__future__"  # from __future__ import annotations
            and not (inspect.isclass(value) and value.__module__ != module.__name__)}


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.__name__)
def test_exercise_modules_expose_only_graders(module):
    public = _public(module)
    assert public, "a module of exercises with no grader"
    for name, value in public.items():
        if inspect.isclass(value):
            continue  # an imported class such as Feedback
        assert name.startswith("check_") and inspect.isfunction(value), (
            f"{module.__name__}.{name} is public but not a grader: a student could import it")
        assert value.__module__ == module.__name__, f"{name} is re-exported"


def test_the_package_exports_only_the_machinery():
    assert set(_public(exercises)) == MACHINERY


@pytest.mark.parametrize("name", ["causal_mask", "scaled_dot_product_attention",
                                  "occlusion_influence", "padding_mask", "attention_mask",
                                  "masked_softmax", "multi_head_attention"])
def test_attention_answers_are_not_importable(name):
    assert not hasattr(attention, name)


@pytest.mark.parametrize("name", ["gru_step_reset_before", "gru_step_reset_after",
                                  "transition_counts", "gru_parameter_count", "gru_step"])
def test_sequential_answers_are_not_importable(name):
    assert not hasattr(sequential, name)


@pytest.mark.parametrize("name", ["normalized_adjacency", "layer_combination",
                                  "graph_bpr_gradient", "bipartite_adjacency",
                                  "normalize_symmetric", "propagate", "light_gcn_embeddings",
                                  "light_gcn_dense"])
def test_graph_answers_are_not_importable(name):
    assert not hasattr(graph, name)
