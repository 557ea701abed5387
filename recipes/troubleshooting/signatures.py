"""Troubleshooting, Python values and tensors: reproductions and their fixes.

Each private ``_*_broken`` function triggers one message exactly as TensorFlow
2.21 raises it; the public function next to it does the same job the right
way. Run ``python signatures.py`` to see every message and
every fix. Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import re
import tempfile
from contextlib import contextmanager

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

ROW_SPEC = tf.TensorSpec(shape=(2,), dtype=tf.float32)
PATH_SPEC = tf.TensorSpec(shape=(), dtype=tf.string)


@contextmanager
def two_files():
    """Two tiny float32 .npy files (rows [0, 0], [1, 1] and [10, 10], [11, 11])."""
    with tempfile.TemporaryDirectory(prefix="genpipe-trouble-") as folder:
        paths = []
        for f in range(2):
            path = os.path.join(folder, f"part-{f}.npy")
            np.save(path, np.repeat(10 * f + np.arange(2.0, dtype=np.float32)[:, None], 2, axis=1))
            paths.append(path)
        yield paths


def path_source(paths):
    """A dataset of the given paths, from a generator."""
    return tf.data.Dataset.from_generator(lambda: iter(paths), output_signature=PATH_SPEC)
# --8<-- [end:setup]


# --8<-- [start:decode_broken]
def _decode_at_trace_broken(paths):
    """Calls ``.decode()`` on the path inside the interleave function."""
    return path_source(paths).interleave(
        lambda path: tf.data.Dataset.from_tensor_slices(np.load(path.decode(), allow_pickle=False))
    )


def _decode_at_run_broken(paths):
    """Hides the same call in a lambda that ``from_generator`` runs later."""
    def rows(path_str):
        yield from np.load(path_str, allow_pickle=False)

    dataset = path_source(paths).interleave(
        lambda path: tf.data.Dataset.from_generator(
            lambda: rows(path.decode()), output_signature=ROW_SPEC
        )
    )
    return list(dataset)  # the error surfaces here, while iterating
# --8<-- [end:decode_broken]


# --8<-- [start:decode_fixed]
def _rows(path):  # receives bytes: from_generator passes args as NumPy values
    yield from np.load(os.fsdecode(path), allow_pickle=False)


def decode_fixed(paths):
    """Pass the tensor through ``args``; Python sees its value at run time."""
    dataset = path_source(paths).interleave(
        lambda path: tf.data.Dataset.from_generator(
            _rows, args=(path,), output_signature=ROW_SPEC
        ),
        cycle_length=2,
    )
    return [row.tolist() for row in dataset.as_numpy_iterator()]
# --8<-- [end:decode_fixed]


# --8<-- [start:shape_broken]
def _shape_mismatch_broken():
    """Yields rows of 4 values where the signature promises 3."""
    def rows():
        yield np.zeros(4, dtype=np.float32)

    spec = tf.TensorSpec(shape=(3,), dtype=tf.float32)
    return list(tf.data.Dataset.from_generator(rows, output_signature=spec))
# --8<-- [end:shape_broken]


# --8<-- [start:dtype_broken]
def _dtype_mismatch_broken():
    """Yields a string where the signature promises an int32."""
    def labels():
        yield "cat"

    spec = tf.TensorSpec(shape=(), dtype=tf.int32)
    return list(tf.data.Dataset.from_generator(labels, output_signature=spec))
# --8<-- [end:dtype_broken]


# --8<-- [start:shape_fixed]
def shape_and_dtype_fixed():
    """Variable lengths as ``None`` in the spec; labels mapped to ints first."""
    classes = {"cat": 0, "dog": 1}

    def rows():
        yield np.zeros(4, dtype=np.float32), classes["cat"]
        yield np.ones(2, dtype=np.float32), classes["dog"]

    spec = (tf.TensorSpec(shape=(None,), dtype=tf.float32), tf.TensorSpec(shape=(), dtype=tf.int32))
    return [(row.shape[0], int(label)) for row, label in tf.data.Dataset.from_generator(rows, output_signature=spec)]
# --8<-- [end:shape_fixed]


# --8<-- [start:index_broken]
SOURCES = [[1, 2], [3, 4]]  # e.g. one list of records per consumer or shard


def _index_by_tensor_broken():
    """Indexes a Python list with the interleave function's (symbolic) argument."""
    dataset = tf.data.Dataset.range(2).interleave(
        lambda n: tf.data.Dataset.from_generator(
            lambda: iter(SOURCES[n]), output_signature=tf.TensorSpec(shape=(), dtype=tf.int64))
    )
    return list(dataset)
# --8<-- [end:index_broken]


# --8<-- [start:index_fixed]
def _records_of(n):  # n arrives as a NumPy integer through args
    yield from SOURCES[int(n)]


def index_by_tensor_fixed():
    """Passes the index through ``args``; Python sees its value."""
    dataset = tf.data.Dataset.range(2).interleave(
        lambda n: tf.data.Dataset.from_generator(
            _records_of, args=(n,), output_signature=tf.TensorSpec(shape=(), dtype=tf.int64))
    )
    return [int(x) for x in dataset]
# --8<-- [end:index_fixed]


# --8<-- [start:structure_broken]
def _structure_mismatch_broken():
    """Yields a pair where the signature promises a triple."""
    def records():
        yield 1, 2

    spec = (tf.TensorSpec(shape=(), dtype=tf.int64),) * 3
    return list(tf.data.Dataset.from_generator(records, output_signature=spec))
# --8<-- [end:structure_broken]


# --8<-- [start:structure_fixed]
def structure_fixed():
    """The signature mirrors exactly what is yielded: a tuple of two."""
    def records():
        yield 1, 2

    spec = (tf.TensorSpec(shape=(), dtype=tf.int64),) * 2
    return [tuple(int(v) for v in element) for element in
            tf.data.Dataset.from_generator(records, output_signature=spec)]
# --8<-- [end:structure_fixed]


# --8<-- [start:typespec_broken]
def _pairs():  # two inputs and a label
    yield (np.zeros(2, np.float32), np.ones(3, np.float32)), np.float32(1)


def _list_in_signature_broken():
    """Writes the two inputs of a pair as a Python list in the signature."""
    spec = ([tf.TensorSpec((2,), tf.float32), tf.TensorSpec((3,), tf.float32)],
            tf.TensorSpec((), tf.float32))
    return tf.data.Dataset.from_generator(_pairs, output_signature=spec)


def _dtype_as_signature_broken():
    """Passes a dtype where a spec is expected."""
    return tf.data.Dataset.from_generator(lambda: iter([1.0]), output_signature=tf.float32)
# --8<-- [end:typespec_broken]


# --8<-- [start:typespec_fixed]
def tuple_signature_fixed():
    """Tuples in the signature, as in what the generator yields."""
    spec = ((tf.TensorSpec((2,), tf.float32), tf.TensorSpec((3,), tf.float32)),
            tf.TensorSpec((), tf.float32))
    dataset = tf.data.Dataset.from_generator(_pairs, output_signature=spec)
    (a, b), y = next(iter(dataset))
    return a.shape.as_list(), b.shape.as_list(), float(y)
# --8<-- [end:typespec_fixed]


# --8<-- [start:both_broken]
def _both_signatures_broken():
    """Mixes the old arguments with the new one."""
    return tf.data.Dataset.from_generator(
        lambda: iter([1]), output_types=tf.int64,
        output_signature=tf.TensorSpec(shape=(), dtype=tf.int64))


def _no_signature_broken():
    """Gives no description of the elements at all (or only output_shapes)."""
    return tf.data.Dataset.from_generator(lambda: iter([1]))
# --8<-- [end:both_broken]


# --8<-- [start:both_fixed]
def signature_only_fixed():
    """``output_signature`` alone: dtype and shape of every component."""
    dataset = tf.data.Dataset.from_generator(
        lambda: iter([1, 2]), output_signature=tf.TensorSpec(shape=(), dtype=tf.int64))
    return [int(x) for x in dataset]
# --8<-- [end:both_fixed]


# --8<-- [start:pyfunc_dtype_broken]
def _numpy_function_dtype_broken():
    """Returns float64 from a numpy_function declared to return float32."""
    def scale(x):
        return x * 0.5  # an int64 times a Python float is float64

    dataset = tf.data.Dataset.range(2).map(lambda i: tf.numpy_function(scale, [i], tf.float32))
    return list(dataset)
# --8<-- [end:pyfunc_dtype_broken]


# --8<-- [start:pyfunc_dtype_fixed]
def numpy_function_dtype_fixed():
    """Cast in Python to the declared dtype."""
    def scale(x):
        return (x * 0.5).astype(np.float32)

    dataset = tf.data.Dataset.range(2).map(lambda i: tf.numpy_function(scale, [i], tf.float32))
    return [float(x) for x in dataset]
# --8<-- [end:pyfunc_dtype_fixed]


# --8<-- [start:numpy_broken]
def _numpy_in_map_broken():
    """Calls ``.numpy()`` on the map function's argument."""
    def to_text(n):
        return str(n.numpy())

    return tf.data.Dataset.range(2).map(to_text)


def _numpy_in_numpy_function_broken():
    """Calls ``.numpy()`` inside a numpy_function, which already gets NumPy values."""
    def double(n):
        return n.numpy() * 2

    return list(tf.data.Dataset.range(2).map(lambda n: tf.numpy_function(double, [n], tf.int64)))
# --8<-- [end:numpy_broken]


# --8<-- [start:numpy_fixed]
def numpy_and_py_function_fixed():
    """numpy_function gets NumPy values; py_function gets eager tensors."""
    def with_numpy(n):  # n is a NumPy int64
        return np.int64(n * 2)

    def with_eager(n):  # n is an EagerTensor: .numpy() works here
        return tf.constant(n.numpy() * 3)

    dataset = tf.data.Dataset.range(2).map(lambda n: (
        tf.numpy_function(with_numpy, [n], tf.int64),
        tf.py_function(with_eager, [n], tf.int64)))
    return [(int(a), int(b)) for a, b in dataset]
# --8<-- [end:numpy_fixed]


# --8<-- [start:unknown_rank_broken]
def _model():
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _features(i):  # a Python reader, called through numpy_function
    return np.full(2, i, dtype=np.float32), np.float32(i)


def _unknown_shape_broken():
    """numpy_function outputs have no static shape; Keras needs at least a rank."""
    dataset = tf.data.Dataset.range(4).map(
        lambda i: tf.numpy_function(_features, [i], (tf.float32, tf.float32))).batch(2)
    _model().fit(dataset, epochs=1, shuffle=False, verbose=0)
# --8<-- [end:unknown_rank_broken]


# --8<-- [start:unknown_rank_fixed]
def _with_shapes(i):
    x, y = tf.numpy_function(_features, [i], (tf.float32, tf.float32))
    return tf.ensure_shape(x, (2,)), tf.ensure_shape(y, ())


def unknown_shape_fixed():
    """``tf.ensure_shape`` gives the outputs their static shape (and checks it)."""
    dataset = tf.data.Dataset.range(4).map(_with_shapes).batch(2)
    history = _model().fit(dataset, epochs=1, shuffle=False, verbose=0)
    return dataset.element_spec[0].shape.as_list(), len(history.history["loss"])
# --8<-- [end:unknown_rank_fixed]


def last_line(error):
    """The line a user searches for: ``Type: message``, without TensorFlow's wrapping.

    TensorFlow prefixes errors raised while tracing with ``in user code:`` and a
    traceback; it wraps errors raised inside a ``py_func`` in an ``OpError``
    whose text holds the original traceback; it frames its own runtime errors as
    ``{{function_node ...}} message [Op:IteratorGetNext] name:``; and Keras
    wraps layer errors in ``Exception encountered when calling ...`` with the
    cause in bold.
    """
    text = getattr(error, "message", None) or str(error)
    bold = re.search(r"\x1b\[1m(.*?)\x1b\[0m", text, flags=re.DOTALL)
    if bold:
        return f"{type(error).__name__}: {bold.group(1)}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.isidentifier() and head.endswith(("Error", "Exception")):
            return line
    core = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", lines[0] if lines else "")
    core = re.sub(r"^Error in user-defined function passed to .*? transformation with iterator: \S+: ", "", core)
    core = re.sub(r"\s*\[Op:\w+\].*$", "", core)
    return f"{type(error).__name__}: {core}"


def _report(broken, *args):
    try:
        broken(*args)
    except Exception as error:  # noqa: BLE001 - the demo prints whatever it raises
        # pyfunc_<n> counts the py_funcs this process created before; hide n.
        print(f"{broken.__name__.lstrip('_')}: {type(error).__name__}")
        print("   ", re.sub(r"pyfunc_\d+", "pyfunc_<n>", last_line(error)))


def main():
    with two_files() as paths:
        _report(_decode_at_trace_broken, paths)
        _report(_decode_at_run_broken, paths)
        print("decode_fixed:", decode_fixed(paths))
    for broken in (_shape_mismatch_broken, _dtype_mismatch_broken, _index_by_tensor_broken,
                   _structure_mismatch_broken, _list_in_signature_broken, _dtype_as_signature_broken,
                   _both_signatures_broken, _no_signature_broken, _numpy_function_dtype_broken,
                   _numpy_in_map_broken, _numpy_in_numpy_function_broken, _unknown_shape_broken):
        _report(broken)
    print("shape_and_dtype_fixed:", shape_and_dtype_fixed())
    print("index_by_tensor_fixed:", index_by_tensor_fixed())
    print("structure_fixed:", structure_fixed())
    print("tuple_signature_fixed:", tuple_signature_fixed())
    print("signature_only_fixed:", signature_only_fixed())
    print("numpy_function_dtype_fixed:", numpy_function_dtype_fixed())
    print("numpy_and_py_function_fixed:", numpy_and_py_function_fixed())
    print("unknown_shape_fixed:", unknown_shape_fixed())


if __name__ == "__main__":
    main()
