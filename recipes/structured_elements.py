"""Structured elements end to end: dicts, nested tuples and ragged values from a generator to Keras.

A generator yields one document at a time as nested Python data: a dict of
features (words, sentences of token ids, a dict of metadata) and a label. This
module carries that structure through the whole pipeline: the
``output_signature`` (with a ``tf.RaggedTensorSpec``), ``map`` functions that
take and return dicts, Python code through ``tf.py_function`` (which takes and
returns only flat lists, so the structure is flattened and packed around it),
batching (ragged and padded), and a Keras 3 model whose inputs are named after
the dict's keys.

Run ``python structured_elements.py`` for a short demonstration. Needs only the
standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

SIGNATURE = (
    {
        "words": tf.TensorSpec((None,), tf.string),
        "sentences": tf.RaggedTensorSpec((None, None), tf.int32, ragged_rank=1),
        "meta": {"id": tf.TensorSpec((), tf.int64), "source": tf.TensorSpec((), tf.string)},
    },
    tf.TensorSpec((), tf.int32),  # the label
)
# --8<-- [end:setup]


# --8<-- [start:source]
def documents(count):
    """Document ``i``: ``i % 3 + 1`` sentences of token ids, its words, metadata, label ``i % 2``."""
    for i in range(int(count)):
        sentences = [[1 + i + j] * (j + 1) for j in range(i % 3 + 1)]  # lengths 1, 2, 3...
        features = {
            "words": np.array([f"w{i}"] * (i % 2 + 1), dtype=object),
            "sentences": tf.ragged.constant(sentences, dtype=tf.int32),  # a RaggedTensor, not lists
            "meta": {"id": np.int64(i), "source": "web" if i % 2 else "book"},
        }
        yield features, np.int32(i % 2)


def source(count):
    """The documents as a dataset; the structure comes from ``SIGNATURE``."""
    return tf.data.Dataset.from_generator(documents, args=(count,), output_signature=SIGNATURE)
# --8<-- [end:source]


# --8<-- [start:map]
def to_model_inputs(features, label):
    """A tuple element reaches ``map`` as two arguments; dicts stay dicts."""
    tokens = features["sentences"].flat_values  # all sentences, one after the other
    return {
        "tokens": tokens,
        "length": tf.cast(tf.size(tokens), tf.float32)[tf.newaxis],  # shape (1,)
    }, label
# --8<-- [end:map]


# --8<-- [start:py_function]
def py_structured(func, inputs, output_signature):
    """Call Python ``func(inputs) -> structure`` per element, keeping both structures.

    ``tf.py_function`` takes a flat list of tensors and a flat ``Tout`` (dtypes
    or specs, ragged ones included), not a dict. So flatten the inputs, pack
    them back for ``func``, flatten its result, and pack the op's outputs as
    ``output_signature``; ``ensure_shape`` restores the static shapes that
    ``py_function`` loses (and fails, per element, if ``func`` breaks them).
    """
    specs = tf.nest.flatten(output_signature)

    def call(*flat_inputs):
        result = func(tf.nest.pack_sequence_as(inputs, list(flat_inputs)))
        return tf.nest.flatten(tf.nest.map_structure(lambda _, value: value, output_signature, result))

    outputs = tf.py_function(call, tf.nest.flatten(inputs), Tout=specs)
    outputs = [tf.ensure_shape(t, s.shape) if isinstance(s, tf.TensorSpec) else t for t, s in zip(outputs, specs)]
    return tf.nest.pack_sequence_as(output_signature, outputs)


WORD_INFO = {"chars": tf.RaggedTensorSpec((None, None), tf.int32), "count": tf.TensorSpec((), tf.int32)}


def word_info(features):
    """Python per element: the character codes of each word (ragged) and how many words."""
    words = [w.decode() for w in features["words"].numpy()]
    return {"chars": tf.ragged.constant([[ord(c) for c in w] for w in words], dtype=tf.int32, ragged_rank=1),
            "count": tf.constant(len(words), tf.int32)}


def with_word_info(features, label):
    """Adds ``word_info`` (computed in Python) to the features."""
    info = py_structured(word_info, {"words": features["words"]}, WORD_INFO)
    return {**features, "word_info": info}, label
# --8<-- [end:py_function]


# --8<-- [start:batch]
def ragged_batches(dataset, batch_size):
    """``batch`` keeps ragged components ragged; ``ragged_batch`` makes variable-length dense ones ragged."""
    return dataset.ragged_batch(batch_size)


def padded_batches(dataset, batch_size):
    """Pad the dense components of a dict (``padded_batch`` refuses ragged ones)."""
    return dataset.padded_batch(batch_size)
# --8<-- [end:batch]


# --8<-- [start:model]
def build_model(vocabulary=64):
    """A Keras 3 model whose inputs are named like the keys of the feature dict."""
    tokens = tf.keras.Input(shape=(None,), dtype="int32", name="tokens")
    length = tf.keras.Input(shape=(1,), dtype="float32", name="length")
    x = tf.keras.layers.Embedding(vocabulary, 8, mask_zero=True)(tokens)
    x = tf.keras.layers.GlobalAveragePooling1D()(x)
    x = tf.keras.layers.Concatenate()([x, length / 10.0])
    output = tf.keras.layers.Dense(1, activation="sigmoid")(x)
    model = tf.keras.Model({"tokens": tokens, "length": length}, output)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def training_data(count, batch_size):
    """Documents -> named model inputs -> padded batches (token 0 is padding)."""
    return padded_batches(source(count).map(to_model_inputs), batch_size)
# --8<-- [end:model]


def main():
    first, label = next(iter(source(3).skip(2)))
    print("sentences:", type(first["sentences"]).__name__, first["sentences"].to_list(), "label", int(label))
    features, _ = next(iter(source(3).skip(2).map(to_model_inputs)))
    print("model inputs:", {k: v.numpy().tolist() for k, v in features.items()})
    info = next(iter(source(2).skip(1).map(with_word_info)))[0]["word_info"]
    print("word_info:", info["chars"].to_list(), int(info["count"]), info["chars"].shape)
    batch, labels = next(iter(ragged_batches(source(3), 3)))
    print("ragged batch of sentences:", batch["sentences"].shape, "words:", batch["words"].shape)
    padded, _ = next(iter(training_data(3, 3)))
    print("padded tokens:", padded["tokens"].numpy().tolist())
    tf.keras.utils.set_random_seed(0)
    model = build_model()
    history = model.fit(training_data(8, 4), epochs=2, verbose=0)
    print("trained on named inputs:", sorted(model.input), "epochs:", len(history.history["loss"]))


if __name__ == "__main__":
    main()
