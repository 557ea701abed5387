"""Keras beyond fit: validation every epoch, predictions joined to their rows, named inputs."""

import multiprocessing
import os
import random

import numpy as np
import pytest

from recipes import keras_integration as k


@pytest.fixture(scope="module")
def model():
    k.keras.utils.set_random_seed(0)
    return k.two_input_model()


def test_validation_runs_every_epoch_finite_and_endless(model):
    assert k.fit_with_validation(model, epochs=2) == {"loss": 2, "val_loss": 2}
    assert k.fit_endless_with_steps(model, epochs=3) == {"loss": 3, "val_loss": 3}


def test_predictions_stay_joined_to_their_rows(model):
    shuffled = k.rows(0, 12).unbatch().shuffle(12, seed=5).batch(5)
    joined = k.predict_with_ids(model, shuffled)
    ids = [row_id for row_id, _, _ in joined]
    assert ids != sorted(ids) and sorted(ids) == list(range(12))
    assert all(label == (row % 7) - (row % 5) for row, label, _ in joined)
    inputs = {"numbers": np.array([[r % 7, r % 5] for r in ids], np.float32),
              "extra": np.array([[r % 3, 1, 0] for r in ids], np.float32)}
    expected = model.predict_on_batch(inputs)[:, 0]
    assert np.allclose([p for _, _, p in joined], expected, atol=1e-5)


def test_third_element_is_a_sample_weight(model):
    assert k.weighted_loss(model, 0.0) == 0.0
    assert k.weighted_loss(model, 1.0) > 0.0


def test_inputs_are_matched_by_name(model):
    assert sorted(i.name for i in model.inputs) == ["extra", "numbers"]
    assert set(k.rows(0, 4).element_spec[0]) == {"extra", "numbers"}
    assert k.rows(0, 10).cardinality().numpy() == 3  # 10 rows in batches of 4


# Set at run time by the test below: a forked worker sees the new value, a spawned one
# (which imports this module afresh) would see 0.
RUN_TIME_FLAG = [0.0]


class Probe(k.keras.utils.PyDataset):
    """Batch i is one row: (i, the process that computed it, RUN_TIME_FLAG as that process sees it)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([[i, os.getpid(), RUN_TIME_FLAG[0]]], np.float32), np.zeros((1, 1), np.float32)


class Record(k.keras.layers.Layer):
    """Keeps every batch the model is given (the model runs eagerly)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def call(self, x):
        if hasattr(x, "numpy"):  # an eager batch, not the symbolic build call
            self.seen.append(x.numpy()[0].tolist())
        return x

    def compute_output_shape(self, input_shape):
        return input_shape


def fit_and_record(dataset, epochs=1, shuffle=False):
    record = Record()
    inputs = k.keras.Input((3,))
    model = k.keras.Model(inputs, k.keras.layers.Dense(1)(record(inputs)))
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    model.fit(dataset, epochs=epochs, shuffle=shuffle, verbose=0)
    return [(int(i), int(pid), flag) for i, pid, flag in record.seen]


def test_pydataset_with_use_multiprocessing_computes_batches_in_forked_workers_in_order():
    RUN_TIME_FLAG[0] = 1.0
    try:
        seen = fit_and_record(Probe(8, workers=2, use_multiprocessing=True), epochs=2)
    finally:
        RUN_TIME_FLAG[0] = 0.0
    assert [i for i, _, _ in seen] == list(range(8)) * 2  # in order, each batch once per epoch
    first, second = ({pid for _, pid, _ in seen[e * 8:(e + 1) * 8]} for e in range(2))
    assert os.getpid() not in first | second  # computed in other processes
    assert not first & second  # a new pool each epoch
    assert {flag for _, _, flag in seen} == {1.0}  # they were forked: they see this run's state
    assert multiprocessing.get_start_method() == "fork"


def test_pydataset_without_workers_runs_in_this_process_and_fit_shuffles_batches_by_default():
    seen = fit_and_record(Probe(8), epochs=1)
    assert [i for i, _, _ in seen] == list(range(8)) and {pid for _, pid, _ in seen} == {os.getpid()}
    random.seed(0)
    shuffled = fit_and_record(Probe(8, workers=2), epochs=3, shuffle=True)  # shuffle=True: fit's default
    epochs = [[i for i, _, _ in shuffled[e * 8:(e + 1) * 8]] for e in range(3)]
    assert all(sorted(e) == list(range(8)) for e in epochs) and any(e != list(range(8)) for e in epochs)


def test_fit_pydataset_and_its_tf_data_pipeline(model):
    assert k.fit_pydataset(model, workers=2, use_multiprocessing=True) == {"loss": 2}
    rows = k.RowBatches(10, batch_size=4)
    dataset = k.pydataset_as_dataset(rows)
    assert int(dataset.cardinality()) == 3
    got = list(dataset.as_numpy_iterator())
    assert [len(y) for _, y in got] == [4, 4, 2]
    for (inputs, labels), index in zip(got, range(3)):
        want_inputs, want_labels = rows[index]
        assert np.array_equal(inputs["numbers"], want_inputs["numbers"]) and np.array_equal(labels, want_labels)


def test_iterating_a_pydataset_by_hand_uses_no_workers():
    probe = Probe(4, workers=2, use_multiprocessing=True)
    seen = [tuple(x[0][:2]) for x, _ in probe]
    assert seen == [(i, os.getpid()) for i in range(4)]
