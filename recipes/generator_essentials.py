"""``from_generator`` essentials: signatures, nesting, ragged data, args, cardinality.

Everything a generator-fed pipeline relies on before any parallelism:

* ``output_signature``: one ``tf.TypeSpec`` per component, nested like the
  elements (dicts and tuples), with ``None`` for dimensions that vary;
* ragged components with ``tf.RaggedTensorSpec``;
* ``args``: values handed to the generator function, converted to NumPy;
* a generator *function*, called anew for every iteration (every epoch);
* unknown cardinality, made known with ``assert_cardinality``; ``take`` and
  ``repeat``.

Run ``python generator_essentials.py`` for a tour. Needs only the standard
library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

# --8<-- [end:setup]


# --8<-- [start:signature]
# The structure of one element: a dict of features and a (label, name) tuple.
# `None` marks a dimension whose size changes from element to element.
RECORD_SIGNATURE = (
    {
        "id": tf.TensorSpec(shape=(), dtype=tf.int64),
        "tokens": tf.TensorSpec(shape=(None,), dtype=tf.int32),
    },
    (
        tf.TensorSpec(shape=(), dtype=tf.float32),
        tf.TensorSpec(shape=(), dtype=tf.string),
    ),
)


def generate_records(num_records, prefix):
    """A generator *function*. ``from_generator`` calls it once per iteration.

    Through ``args`` it receives NumPy values: ``num_records`` as a NumPy
    integer, ``prefix`` as ``bytes``.
    """
    name = prefix.decode("utf-8")
    for i in range(int(num_records)):
        features = {"id": i, "tokens": np.arange(i + 1, dtype=np.int32)}
        yield features, (float(i) / 2, f"{name}-{i}")


def record_dataset(num_records=3, prefix="rec"):
    """``num_records`` nested records; a fresh generator on every iteration."""
    if not isinstance(num_records, int) or isinstance(num_records, bool) or num_records < 0:
        raise ValueError(f"num_records must be a non-negative int, got {num_records!r}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    return tf.data.Dataset.from_generator(
        generate_records,
        args=(np.int64(num_records), prefix),
        output_signature=RECORD_SIGNATURE,
    )
# --8<-- [end:signature]


# --8<-- [start:ragged]
def ragged_dataset(num_rows=3):
    """Each element is a ragged ``[2, None]`` matrix: rows of different lengths."""

    def generate():
        for i in range(num_rows):
            yield tf.ragged.constant([[i] * i, [-1]], dtype=tf.int32)

    spec = tf.RaggedTensorSpec(shape=(2, None), dtype=tf.int32)
    return tf.data.Dataset.from_generator(generate, output_signature=spec)
# --8<-- [end:ragged]


# --8<-- [start:cardinality]
def with_known_length(dataset, length):
    """Declare how many elements a generator dataset has.

    ``from_generator`` cannot know its length, so ``cardinality()`` is
    ``tf.data.UNKNOWN_CARDINALITY`` (-2) and Keras cannot show progress or
    infer steps. ``assert_cardinality`` records the number and checks it while
    iterating: a generator that yields more or fewer elements raises
    ``tf.errors.FailedPreconditionError``.
    """
    return dataset.apply(tf.data.experimental.assert_cardinality(length))
# --8<-- [end:cardinality]


def main():
    records = record_dataset(3)
    for features, (label, name) in records.take(2).as_numpy_iterator():
        print(int(features["id"]), features["tokens"].tolist(), float(label), name.decode())
    print("cardinality:", int(records.cardinality()),
          "-> asserted:", int(with_known_length(records, 3).cardinality()))
    print("two epochs:", len(list(records.repeat(2))), "elements")
    print("ragged:", [r.to_list() for r in ragged_dataset(3)])
    try:
        list(with_known_length(records, 5))
    except tf.errors.FailedPreconditionError as error:
        print("FailedPreconditionError:", error.message.split("}} ")[-1].split(" [Op:")[0])


if __name__ == "__main__":
    main()
