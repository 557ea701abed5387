"""Keras beyond ``fit``: validation, predictions joined to their rows, several inputs.

A generator yields examples for a model with two named inputs. ``fit`` trains on
it and validates on a second generator every epoch, both with declared lengths
(or, for endless sources, with ``steps_per_epoch`` and ``validation_steps``).
Predictions are collected in the same pass as the ids and labels they belong to,
so they line up whatever the pipeline's order. Each element of a dataset given
to Keras is read as ``(x, y)`` or ``(x, y, sample_weight)``.

Run ``python keras_integration.py`` for a short demonstration. Needs only the
standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

keras = tf.keras  # Keras 3, as TensorFlow 2.21 ships it

# One example: two named inputs, a label and the id of its source row.
SIGNATURE = (
    {"numbers": tf.TensorSpec((2,), tf.float32), "extra": tf.TensorSpec((3,), tf.float32)},
    tf.TensorSpec((), tf.float32),
    tf.TensorSpec((), tf.int64),
)
# --8<-- [end:setup]


# --8<-- [start:source]
def examples(first, count):
    """Rows ``first`` .. ``first + count - 1`` of a source: (inputs, label, row id)."""
    for row in range(int(first), int(first) + int(count)):
        numbers = np.array([row % 7, row % 5], dtype=np.float32)
        extra = np.array([row % 3, 1.0, 0.0], dtype=np.float32)
        label = np.float32(numbers[0] - numbers[1])
        yield {"numbers": numbers, "extra": extra}, label, np.int64(row)


def rows(first, count, batch_size=4):
    """Batches of (inputs, label, row id), with the length declared for Keras."""
    dataset = tf.data.Dataset.from_generator(examples, args=(first, count), output_signature=SIGNATURE)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(count))
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def for_keras(dataset):
    """Drop the row id: Keras reads a third element as ``sample_weight``."""
    return dataset.map(lambda inputs, label, row_id: (inputs, label))
# --8<-- [end:source]


# --8<-- [start:model]
def two_input_model():
    """Two ``keras.Input`` layers named like the keys the generator yields."""
    numbers = keras.Input((2,), name="numbers")
    extra = keras.Input((3,), name="extra")
    output = keras.layers.Dense(1)(keras.layers.Concatenate()([numbers, extra]))
    model = keras.Model({"numbers": numbers, "extra": extra}, output)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model
# --8<-- [end:model]


# --8<-- [start:validate]
def fit_with_validation(model, epochs=2):
    """Finite sources with declared lengths: Keras knows both epoch lengths."""
    train = for_keras(rows(0, 32))
    validation = for_keras(rows(1000, 8))
    history = model.fit(train, validation_data=validation, epochs=epochs, shuffle=False, verbose=0)
    return {key: len(values) for key, values in history.history.items()}


def fit_endless_with_steps(model, epochs=2):
    """Endless sources: ``steps_per_epoch`` and ``validation_steps`` end each pass."""
    train = for_keras(rows(0, 32)).repeat()
    validation = for_keras(rows(1000, 8)).repeat()
    history = model.fit(train, steps_per_epoch=8, validation_data=validation, validation_steps=2,
                        epochs=epochs, shuffle=False, verbose=0)
    return {key: len(values) for key, values in history.history.items()}
# --8<-- [end:validate]


# --8<-- [start:predict]
def predict_with_ids(model, dataset):
    """One pass: each batch's predictions stay beside its row ids and labels."""
    out = []
    for inputs, labels, row_ids in dataset:
        predictions = model.predict_on_batch(inputs)[:, 0]
        out.extend(zip(row_ids.numpy().tolist(), labels.numpy().tolist(), predictions.tolist()))
    return out
# --8<-- [end:predict]


# --8<-- [start:weights]
def weighted_loss(model, weight):
    """A third element is ``sample_weight``: with weight 0 every example counts for nothing."""
    dataset = rows(0, 8).map(lambda inputs, label, row_id: (inputs, label, tf.fill(tf.shape(label), weight)))
    return model.evaluate(dataset, verbose=0)
# --8<-- [end:weights]


# --8<-- [start:pydataset]
class RowBatches(keras.utils.PyDataset):
    """Batch ``index`` of ``examples``: what ``fit`` asks ``PyDataset``'s workers for.

    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` go to
    ``PyDataset`` and only ``fit``/``evaluate``/``predict`` use them. Each
    batch is computed from its index alone, so any worker can compute any batch.
    """

    def __init__(self, count, batch_size=4, **kwargs):
        super().__init__(**kwargs)
        self.count, self.batch_size = int(count), int(batch_size)

    def __len__(self):
        return -(-self.count // self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        first = index * self.batch_size
        batch = list(examples(first, min(self.batch_size, self.count - first)))
        inputs = {key: np.stack([b[0][key] for b in batch]) for key in ("numbers", "extra")}
        return inputs, np.stack([b[1] for b in batch])


def fit_pydataset(model, epochs=2, **worker_options):
    """``fit`` on a ``PyDataset``: Keras runs its workers; no tf.data involved."""
    history = model.fit(RowBatches(32, **worker_options), epochs=epochs, shuffle=False, verbose=0)
    return {key: len(values) for key, values in history.history.items()}


def pydataset_as_dataset(py_dataset):
    """A ``tf.data`` pipeline over a ``PyDataset``'s batches, in index order.

    ``__getitem__`` runs here, one batch at a time: a ``PyDataset``'s workers
    belong to ``fit``, not to the object. For worker processes behind tf.data,
    give the same ``__getitem__`` to Grain (the Grain recipe).
    """
    signature = (
        {key: tf.TensorSpec((None, *spec.shape), spec.dtype) for key, spec in SIGNATURE[0].items()},
        tf.TensorSpec((None,), tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(
        lambda: (py_dataset[index] for index in range(len(py_dataset))), output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(py_dataset)))
# --8<-- [end:pydataset]


def main():
    keras.utils.set_random_seed(0)
    model = two_input_model()
    print("fit_with_validation:", fit_with_validation(model))
    print("fit_endless_with_steps:", fit_endless_with_steps(model))
    shuffled = rows(0, 8).unbatch().shuffle(8, seed=3).batch(4)
    joined = predict_with_ids(model, shuffled)
    print("ids:", [row_id for row_id, _, _ in joined])
    print("labels match their rows:", all(label == (row % 7) - (row % 5) for row, label, _ in joined))
    print("weighted_loss(weight=0):", weighted_loss(model, 0.0))
    print("fit_pydataset, 2 worker processes:", fit_pydataset(model, workers=2, use_multiprocessing=True))
    print("pydataset_as_dataset:", pydataset_as_dataset(RowBatches(10)).cardinality().numpy())


if __name__ == "__main__":
    main()
