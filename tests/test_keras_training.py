"""``fit_one_epoch``: the compiled epoch computes what ``network.fit`` computes."""

import numpy as np
import pytest

from recsys_lab.models._keras import BatchSchedule, fit_one_epoch, keras


def small_network(dropout: float = 0.0, jit_compile: bool = False):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((5,), name="x")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    hidden = keras.layers.Dropout(dropout, seed=4)(hidden)
    network = keras.Model(inputs, keras.layers.Dense(1, name="out")(hidden))
    network.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse",
                    metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
                    jit_compile=jit_compile)
    return network


def data(n: int = 103):  # 103 rows: the last batch of 16 is smaller
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5))  # float64: cast to float32 as fit casts it
    return x, x @ rng.normal(size=(5, 1)), rng.uniform(0.5, 1.0, size=n)


def train(network, epochs: int, use_fit: bool, sample_weight=None) -> list[dict]:
    x, y, _ = data()
    rng = np.random.default_rng(1)
    # A callback sends the epoch through ``network.fit``: the reference path.
    callbacks = [keras.callbacks.Callback()] if use_fit else []
    return [fit_one_epoch(network, x, y, sample_weight=sample_weight, batch_size=16, rng=rng,
                          callbacks=callbacks) for _ in range(epochs)]


@pytest.mark.parametrize("options", [{}, {"dropout": 0.3}, {"jit_compile": True}])
def test_the_compiled_epoch_gives_the_weights_and_logs_of_keras_fit(options):
    compiled, reference = small_network(**options), small_network(**options)
    logs, reference_logs = train(compiled, 3, False), train(reference, 3, True)
    assert set(logs[0]) == {"loss", "mae"}
    for got, expected in zip(logs, reference_logs, strict=True):
        assert got == pytest.approx(expected, rel=1e-6)
    for got, expected in zip(compiled.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert logs[-1]["loss"] < logs[0]["loss"]  # it learns


def test_sample_weights_reach_the_loss():
    weights = data()[2]
    compiled, reference = small_network(), small_network()
    logs = train(compiled, 2, False, sample_weight=weights)
    reference_logs = train(reference, 2, True, sample_weight=weights)
    for got, expected in zip(logs, reference_logs, strict=True):
        assert got == pytest.approx(expected, rel=1e-6)
    unweighted = train(small_network(), 2, False)
    assert logs[0]["loss"] != pytest.approx(unweighted[0]["loss"], rel=1e-6)


def test_the_epoch_is_traced_once_per_network():
    network = small_network()
    train(network, 3, False)
    (epoch,) = network.__dict__["_compiled_epochs"].values()
    assert epoch.experimental_get_tracing_count() == 1


class Ramp(BatchSchedule):
    def value(self, steps):
        return 0.5 + 0.1 * steps


def scaled_network():
    """``small_network``'s output times a non-trainable ``factor`` that a schedule sets."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((5,), name="x")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    scale = Scale(name="scale")
    network = keras.Model(inputs, scale(keras.layers.Dense(1, name="out")(hidden)))
    network.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return network, scale


class Scale(keras.layers.Layer):
    def build(self, input_shape):
        self.factor = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                      name="factor")

    def call(self, x):
        return self.factor * x


def test_a_batch_schedule_sets_its_variable_inside_the_compiled_epoch_as_fit_does():
    x, y, _ = data()
    runs = {}
    for use_fit in (False, True):
        network, scale = scaled_network()
        schedule = Ramp(scale.factor)
        rng = np.random.default_rng(1)
        # Another callback sends the epoch through ``network.fit``: the reference path.
        callbacks = [schedule, keras.callbacks.Callback()] if use_fit else [schedule]
        logs = [fit_one_epoch(network, x, y, batch_size=16, rng=rng, callbacks=callbacks)
                for _ in range(2)]
        assert ("_compiled_epochs" in network.__dict__) is not use_fit
        runs[use_fit] = logs, network.get_weights(), schedule.values
    (logs, weights, values), (reference_logs, reference_weights, reference_values) = (
        runs[False], runs[True])
    assert values == reference_values == pytest.approx(0.5 + 0.1 * np.arange(14))  # 7 batches
    for got, expected in zip(logs, reference_logs, strict=True):
        assert got == pytest.approx(expected, rel=1e-6)
    for got, expected in zip(weights, reference_weights, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert weights[-1] == pytest.approx(0.5 + 0.1 * 13)  # the factor before the last batch
