"""Troubleshooting, structured elements (dicts, nested tuples, ragged values) through a pipeline.

Dicts and tuples through ``tf.py_function`` and ``tf.numpy_function``, ragged
values from ``from_generator`` with ``RaggedTensorSpec``, and ``padded_batch``
on dict elements. Each private ``_*_broken`` function triggers one message
exactly as TensorFlow 2.21 raises it; the public function next to it does the
same job the right way. Run ``python structured_elements.py`` to see every
message and every fix. Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import re

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

RECORD_SPEC = {"tokens": tf.TensorSpec((None,), tf.int64), "label": tf.TensorSpec((), tf.int64)}


def records(n=4):
    """A generator dataset of ``n`` dict records: ``tokens`` of length 1..n, and a ``label``."""
    return tf.data.Dataset.from_generator(
        lambda: ({"tokens": np.arange(1, i + 2), "label": np.int64(i % 2)} for i in range(n)),
        output_signature=RECORD_SPEC)


def values(dataset):
    """Every element of ``dataset`` as nested Python values (dicts, lists)."""
    def plain(x):
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, tuple):
            return tuple(plain(v) for v in x)
        return x.to_list() if isinstance(x, tf.RaggedTensor) else np.asarray(x).tolist()
    return [plain(x) for x in dataset]
# --8<-- [end:setup]


def _stats(tokens):
    """Python code that needs NumPy: the number of tokens and their mean."""
    return np.int64(len(tokens)), np.float32(np.mean(tokens))


# --8<-- [start:tout_broken]
def _dict_as_tout_broken():
    """``py_function`` asked for a dict of outputs."""
    def stats(tokens):
        count, mean = _stats(tokens.numpy())
        return {"count": count, "mean": mean}

    return records().map(lambda r: tf.py_function(
        stats, [r["tokens"]], Tout={"count": tf.int64, "mean": tf.float32}))
# --8<-- [end:tout_broken]


# --8<-- [start:tout_fixed]
def flat_outputs_packed_back_fixed():
    """Return a flat tuple in a fixed order, give its shapes, and build the dict in the ``map``."""
    def with_stats(record):
        count, mean = tf.numpy_function(_stats, [record["tokens"]], Tout=(tf.int64, tf.float32))
        count.set_shape(())  # numpy_function outputs have no static shape
        mean.set_shape(())
        return {**record, "count": count, "mean": mean}

    dataset = records().map(with_stats)
    return values(dataset)[1], dataset.element_spec["mean"]
# --8<-- [end:tout_fixed]


# --8<-- [start:count_broken]
def _two_values_for_one_tout_broken():
    """The Python function returns two values; ``Tout`` announces one."""
    dataset = records().map(lambda r: tf.numpy_function(_stats, [r["tokens"]], Tout=tf.float32))
    return values(dataset)
# --8<-- [end:count_broken]


# --8<-- [start:count_fixed]
def one_tout_per_value_fixed():
    """One dtype in ``Tout`` per value returned, in the same order."""
    dataset = records().map(lambda r: tf.numpy_function(_stats, [r["tokens"]], Tout=[tf.int64, tf.float32]))
    return values(dataset)[:2]
# --8<-- [end:count_fixed]


# --8<-- [start:ragged_broken]
def _sentences():
    """Each yield is a paragraph: a list of sentences, each a list of word ids of its own length."""
    yield [[1, 2], [3, 4]]  # two sentences of two words
    yield [[5], [6, 7], [8, 9, 10]]


RAGGED = tf.RaggedTensorSpec(shape=(None, None), dtype=tf.int32)


def _lists_for_a_ragged_spec_broken():
    """Nested lists yielded for a ``RaggedTensorSpec``."""
    return values(tf.data.Dataset.from_generator(_sentences, output_signature=RAGGED))
# --8<-- [end:ragged_broken]


# --8<-- [start:ragged_fixed]
def ragged_from_flat_values_fixed():
    """Yield flat values and row lengths (NumPy, cheap), build the ragged tensor in a ``map``."""
    def flat():
        for paragraph in _sentences():
            yield np.concatenate(paragraph).astype(np.int32), np.array([len(s) for s in paragraph])

    spec = (tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None,), tf.int64))
    dataset = tf.data.Dataset.from_generator(flat, output_signature=spec)
    dataset = dataset.map(lambda flat_values, lengths: tf.RaggedTensor.from_row_lengths(flat_values, lengths))
    return dataset.element_spec, values(dataset)


def ragged_tensors_yielded_fixed():
    """Or yield ``tf.RaggedTensor`` values: converting each one in Python costs more per element."""
    dataset = tf.data.Dataset.from_generator(
        lambda: (tf.ragged.constant(p, dtype=tf.int32) for p in _sentences()), output_signature=RAGGED)
    return values(dataset)
# --8<-- [end:ragged_fixed]


# --8<-- [start:padded_shapes_broken]
def _one_padded_shape_for_a_dict_broken():
    """``padded_shapes`` given as one shape for elements that are dicts."""
    return records().padded_batch(2, padded_shapes=[None])
# --8<-- [end:padded_shapes_broken]


# --8<-- [start:padded_shapes_fixed]
def padded_shapes_per_key_fixed():
    """Leave ``padded_shapes`` out (pad every key to the longest in the batch), or give one per key."""
    default = values(records().padded_batch(2))
    per_key = values(records().padded_batch(2, padded_shapes={"tokens": [5], "label": []}))
    return default[0]["tokens"], per_key[0]["tokens"]
# --8<-- [end:padded_shapes_fixed]


# --8<-- [start:padding_values_broken]
def _python_int_padding_value_broken():
    """A Python ``-1`` as the padding value: TensorFlow makes it int32, the tokens are int64."""
    return records().padded_batch(2, padding_values=-1)
# --8<-- [end:padding_values_broken]


# --8<-- [start:padding_values_fixed]
def padding_values_of_the_elements_dtype_fixed():
    """Padding values with the dtype of each component, one per key."""
    padding = {"tokens": tf.constant(-1, tf.int64), "label": tf.constant(0, tf.int64)}
    return values(records().padded_batch(2, padding_values=padding))[0]["tokens"]
# --8<-- [end:padding_values_fixed]


def last_line(error):
    """The line a user searches for: ``Type: message``, without TensorFlow's wrapping.

    TensorFlow prefixes errors raised while tracing with ``in user code:`` and a
    traceback; it wraps errors raised inside a ``py_func`` in an ``OpError``
    whose text holds the original traceback; and it frames its own runtime
    errors as ``{{function_node ...}} message [Op:IteratorGetNext] name:``.
    """
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.isidentifier() and head.endswith(("Error", "Exception")):
            return line
    core = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", lines[0] if lines else "")
    core = re.sub(r"^Error in user-defined function passed to .*? transformation with iterator: \S+: ", "", core)
    core = re.sub(r"\s*\[Op:\w+\].*$", "", core)
    return f"{type(error).__name__}: {core}"


def _report(broken):
    try:
        broken()
    except Exception as error:  # noqa: BLE001 - the demo prints whatever it raises
        print(f"{broken.__name__.lstrip('_')}: {type(error).__name__}")
        print("   ", re.sub(r"\bpyfunc_\d+\b", "pyfunc_<n>", last_line(error)))


def main():
    for broken in (_dict_as_tout_broken, _two_values_for_one_tout_broken, _lists_for_a_ragged_spec_broken,
                   _one_padded_shape_for_a_dict_broken, _python_int_padding_value_broken):
        _report(broken)
    print("flat_outputs_packed_back_fixed:", flat_outputs_packed_back_fixed())
    print("one_tout_per_value_fixed:", one_tout_per_value_fixed())
    print("ragged_from_flat_values_fixed:", ragged_from_flat_values_fixed())
    print("ragged_tensors_yielded_fixed:", ragged_tensors_yielded_fixed())
    print("padded_shapes_per_key_fixed:", padded_shapes_per_key_fixed())
    print("padding_values_of_the_elements_dtype_fixed:", padding_values_of_the_elements_dtype_fixed())


if __name__ == "__main__":
    main()
