"""Which of the book's models meet Keras 3's Adam on sparse gradients, and what it does there.

A gather from a weight (an embedding lookup, a field's table) has a ``tf.IndexedSlices``
gradient: one slice per looked-up row, a row looked up ``n`` times in a batch appearing ``n``
times. Keras 3's ``Adam.update_step`` squares that gradient before summing the repeated rows
(``ops.square`` keeps the slices, the following subtraction sums them), so its second
moment receives ``Σ gⱼ²`` where Adam's is ``(Σ gⱼ)²``. The first moment is Adam's. For a row
looked up many times per batch the denominator ``√v`` is then smaller than Adam's and the
step larger: in the toy below the first step is twice the learning rate, where Adam's first
step is the learning rate.

The script prints

* the toy: one row looked up four times, Keras's second moment and first step beside Adam's
  (the gradient made dense before ``apply``);
* for every registry row whose class trains with Keras (one row per class and settings),
  the weights whose gradient reaches the optimiser as ``IndexedSlices`` in a one-epoch fit
  on the row's protocol's standard training split. Slices do not mean repeated rows: a
  lookup of distinct ids (SASRec's positions) gives the same update either way.

No setting is chosen here and nothing is changed: the book's models train with Keras's
Adam as it is, and their settings were chosen on validation data with it. Run:
``.venv/bin/python benchmarks/sparse_adam.py`` (a few minutes on two cores); exit status 0.
"""

from __future__ import annotations

import sys

import numpy as np
from speed import keras_entries  # benchmarks/speed.py: the registry rows that train with Keras

from recsys_lab.datasets import load_movielens_100k
from recsys_lab.models._keras import keras, tf
from recsys_lab.splits import standard_splits


def toy() -> None:
    """One row of a 3-row weight looked up four times: Keras's update against Adam's."""
    for dense in (False, True):
        weight = keras.Variable(np.zeros(3, "float32"))
        optimizer = keras.optimizers.Adam(0.1)
        optimizer.build([weight])
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.gather(weight, [0, 0, 0, 0]))
        (gradient,) = tape.gradient(loss, [weight.value])
        if dense:
            gradient = tf.convert_to_tensor(gradient)
        optimizer.apply([gradient], [weight])
        label = "dense gradient (Adam)" if dense else "IndexedSlices (Keras)"
        second = float(optimizer._velocities[0][0])
        print(f"{label:22s} second moment {second:.4f}, first step {-float(weight[0]):.4f} "
              "(learning rate 0.1)")


def survey() -> None:
    """The weights that reach the optimiser with slices, per registry row (one epoch)."""
    data = load_movielens_100k()
    splits = standard_splits(data.ratings, n_items=data.n_items, n_users=data.n_users)
    sliced: set[str] = set()
    apply = keras.optimizers.Optimizer.apply

    def recording_apply(self, grads, trainable_variables=None):
        for gradient, variable in zip(grads, trainable_variables or [], strict=False):
            if isinstance(gradient, tf.IndexedSlices):
                sliced.add(variable.path)
        return apply(self, grads, trainable_variables)

    keras.optimizers.Optimizer.apply = recording_apply
    seen = set()
    try:
        for entry in keras_entries():
            model = entry.build(data)
            key = (entry.factory, repr(sorted(model.get_params().items(), key=str)))
            if key in seen:
                continue
            seen.add(key)
            model.epochs = 1
            sliced.clear()
            split = splits[entry.protocol]
            model.fit(split.train, n_users=data.n_users, n_items=data.n_items)
            names = ", ".join(sorted(sliced)) or "none"
            print(f"{entry.name:14s} {entry.protocol:12s} {names}", flush=True)
    finally:
        keras.optimizers.Optimizer.apply = apply


def main() -> int:
    toy()
    print()
    survey()
    return 0


if __name__ == "__main__":
    sys.exit(main())
