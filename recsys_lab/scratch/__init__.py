"""The NumPy reference implementations the chapters derive, in one place.

Each function is the plain-NumPy version of something a model computes with Keras or a
vectorised trick: written to be read, checked against the fast version in the tests.

* :mod:`~recsys_lab.scratch.mf` — the matrix-factorisation objective, its gradient, and a
  numerical gradient for checking any analytic one (chapter 2);
* :mod:`~recsys_lab.scratch.ranking` — sampled negatives and the BCE / BPR losses with
  their gradients (chapter 3);
* :mod:`~recsys_lab.scratch.conv` — a 1-D convolution and max-over-time pooling (chapter 5);
* :mod:`~recsys_lab.scratch.gru` — one GRU step (chapter 6);
* :mod:`~recsys_lab.scratch.attention` — attention masks, masked softmax and multi-head
  attention (chapter 7).

Nothing here imports TensorFlow.
"""
