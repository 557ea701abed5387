"""Variable-length sequences from a generator: pad, bucket, or keep them ragged.

A generator yields token sequences of different lengths (sentences, event logs,
audio frames). Batching needs equal shapes, so there are three ways to batch:

* ``padded_batch``: pad every sequence to the longest in its batch;
* ``bucket_by_sequence_length``: group sequences of similar length first, so a
  batch wastes little on padding;
* ``ragged_batch``: no padding at all; the batch is a ``tf.RaggedTensor``.

Run ``python variable_length.py`` to compare how much padding each produces.
Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

PAD = 0  # token id reserved for padding; real tokens are >= 1
# --8<-- [end:setup]


# --8<-- [start:source]
def sequence_lengths(num_sequences, max_length, seed):
    """Deterministic pseudo-random lengths in ``1 .. max_length``."""
    rng = np.random.default_rng(seed)
    return rng.integers(1, max_length + 1, size=num_sequences).tolist()


def sequences(num_sequences=12, max_length=10, seed=0):
    """Sequence ``i`` has a random length and holds the tokens ``i+1, i+1, ...``."""
    for name, value in [("num_sequences", num_sequences), ("max_length", max_length)]:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    lengths = sequence_lengths(num_sequences, max_length, seed)

    def generate():
        for i, n in enumerate(lengths):
            yield np.full(n, i + 1, dtype=np.int32)

    spec = tf.TensorSpec(shape=(None,), dtype=tf.int32)
    return tf.data.Dataset.from_generator(generate, output_signature=spec)
# --8<-- [end:source]


# --8<-- [start:batching]
def padded(dataset, batch_size):
    """Pad each batch to its longest sequence with ``PAD``."""
    return dataset.padded_batch(batch_size, padded_shapes=(None,), padding_values=PAD)


def bucketed(dataset, batch_size, boundaries=(4, 7)):
    """Batch sequences of similar length together, then pad within the bucket.

    Lengths below ``boundaries[0]`` go to the first bucket, and so on. A bucket
    emits a batch when it holds ``batch_size`` sequences, and the rest at the
    end, so the order of elements changes.
    """
    return dataset.bucket_by_sequence_length(
        element_length_func=lambda seq: tf.shape(seq)[0],
        bucket_boundaries=list(boundaries),
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padding_values=PAD,
    )


def ragged(dataset, batch_size):
    """No padding: each batch is a ``tf.RaggedTensor`` of shape ``[batch, None]``."""
    return dataset.ragged_batch(batch_size)


def padding_fraction(batches):
    """Share of the cells in padded batches that are padding."""
    cells = pad = 0
    for batch in batches:
        cells += batch.size
        pad += int(np.sum(batch == PAD))
    return pad / cells if cells else 0.0
# --8<-- [end:batching]


def main():
    source = sequences(num_sequences=12, max_length=10, seed=0)
    print("lengths:", [len(s) for s in source.as_numpy_iterator()])
    pad = list(padded(source, 4).as_numpy_iterator())
    print("padded_batch shapes:", [b.shape for b in pad])
    bucket = list(bucketed(source, 4).as_numpy_iterator())
    print("bucketed shapes:    ", [b.shape for b in bucket])
    print(f"padding: padded_batch {padding_fraction(pad):.0%}, bucketed {padding_fraction(bucket):.0%}")
    rag = list(ragged(source, 4))
    print("ragged_batch:", [tuple(r.shape.as_list()) for r in rag], "row lengths",
          rag[0].row_lengths().numpy().tolist())


if __name__ == "__main__":
    main()
