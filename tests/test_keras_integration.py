"""Keras beyond fit: validation every epoch, predictions joined to their rows, named inputs."""

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
