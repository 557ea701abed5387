"""Reproductions of the errors on the troubleshooting page, and their fixes.

Each ``*_broken`` function triggers one error exactly as TensorFlow raises it;
the matching ``*_fixed`` function does the same job the right way. Run
``python troubleshooting.py`` to see every message and every fix. Needs only the
standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import contextlib
import os
import re
import shutil
import tempfile

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

ROW_SPEC = tf.TensorSpec(shape=(2,), dtype=tf.float32)
PATH_SPEC = tf.TensorSpec(shape=(), dtype=tf.string)


@contextlib.contextmanager
def two_files():
    """Two tiny float32 .npy files (rows [0, 0], [1, 1] and [10, 10], [11, 11])."""
    folder = tempfile.mkdtemp(prefix="genpipe-trouble-")
    try:
        paths = []
        for f in range(2):
            path = os.path.join(folder, f"part-{f}.npy")
            np.save(path, np.repeat(10 * f + np.arange(2.0, dtype=np.float32)[:, None], 2, axis=1))
            paths.append(path)
        yield paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def path_source(paths):
    return tf.data.Dataset.from_generator(lambda: iter(paths), output_signature=PATH_SPEC)
# --8<-- [end:setup]


# --8<-- [start:decode_broken]
def decode_at_trace_broken(paths):
    """Calls ``.decode()`` on the path inside the interleave function."""
    return path_source(paths).interleave(
        lambda path: tf.data.Dataset.from_tensor_slices(np.load(path.decode(), allow_pickle=False))
    )


def decode_at_run_broken(paths):
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


# --8<-- [start:callable_broken]
def generator_object_broken():
    """Passes a generator *object* where a generator *function* is required."""
    def count():
        yield from range(3)

    return tf.data.Dataset.from_generator(
        count(), output_signature=tf.TensorSpec(shape=(), dtype=tf.int64)
    )
# --8<-- [end:callable_broken]


# --8<-- [start:callable_fixed]
def generator_function_fixed():
    """Passes the function; TensorFlow calls it for every new iterator."""
    def count():
        yield from range(3)

    dataset = tf.data.Dataset.from_generator(
        count, output_signature=tf.TensorSpec(shape=(), dtype=tf.int64)
    )
    first_epoch = [int(x) for x in dataset]
    second_epoch = [int(x) for x in dataset]  # a fresh generator: not empty
    return first_epoch, second_epoch
# --8<-- [end:callable_fixed]


# --8<-- [start:cardinality_broken]
def cardinality_mismatch_broken():
    """Declares 5 elements for a generator that yields 3."""
    three = tf.data.Dataset.from_generator(
        lambda: iter(range(3)), output_signature=tf.TensorSpec(shape=(), dtype=tf.int64)
    )
    return list(three.apply(tf.data.experimental.assert_cardinality(5)))
# --8<-- [end:cardinality_broken]


# --8<-- [start:cardinality_fixed]
def cardinality_fixed():
    """Counts what the generator really yields, then declares that."""
    def three():
        yield from range(3)

    spec = tf.TensorSpec(shape=(), dtype=tf.int64)
    dataset = tf.data.Dataset.from_generator(three, output_signature=spec)
    length = sum(1 for _ in three())  # or the length your source reports
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(length))
    return int(dataset.cardinality()), [int(x) for x in dataset]
# --8<-- [end:cardinality_fixed]


# --8<-- [start:shape_broken]
def shape_mismatch_broken():
    """Yields rows of 4 values where the signature promises 3."""
    def rows():
        yield np.zeros(4, dtype=np.float32)

    spec = tf.TensorSpec(shape=(3,), dtype=tf.float32)
    return list(tf.data.Dataset.from_generator(rows, output_signature=spec))


def dtype_mismatch_broken():
    """Yields a string where the signature promises an int32."""
    def labels():
        yield "cat"

    spec = tf.TensorSpec(shape=(), dtype=tf.int32)
    return list(tf.data.Dataset.from_generator(labels, output_signature=spec))
# --8<-- [end:shape_broken]


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


# --8<-- [start:checkpoint_broken]
def checkpoint_generator_broken():
    """Saves the position of an iterator over a ``from_generator`` dataset."""
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(range(5)), output_signature=tf.TensorSpec(shape=(), dtype=tf.int64)
    )
    iterator = iter(dataset)
    next(iterator)
    folder = tempfile.mkdtemp(prefix="genpipe-trouble-")
    try:
        tf.train.Checkpoint(iterator=iterator).save(os.path.join(folder, "input"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
# --8<-- [end:checkpoint_broken]


# --8<-- [start:checkpoint_fixed]
def checkpoint_range_fixed():
    """Record numbers from ``Dataset.range``, read by a stateless numpy_function."""
    def read(i):
        return np.int64(i) * 10  # depends on i only

    dataset = tf.data.Dataset.range(5).map(
        lambda i: tf.numpy_function(read, [i], tf.int64, stateful=False))
    iterator = iter(dataset)
    next(iterator)
    folder = tempfile.mkdtemp(prefix="genpipe-trouble-")
    try:
        path = tf.train.Checkpoint(iterator=iterator).save(os.path.join(folder, "input"))
        resumed = iter(dataset)
        tf.train.Checkpoint(iterator=resumed).restore(path)
        return [int(x) for x in resumed]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
# --8<-- [end:checkpoint_fixed]


# --8<-- [start:ran_out_broken]
def _fit_caught_warnings(dataset):
    import warnings

    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(dataset, epochs=2, shuffle=False, verbose=0)
    return [str(w.message) for w in caught]


def _pairs():
    for i in range(8):
        yield np.full(2, i, dtype=np.float32), np.float32(i)


PAIR_SPEC = (tf.TensorSpec(shape=(2,), dtype=tf.float32), tf.TensorSpec(shape=(), dtype=tf.float32))


def ran_out_of_data_broken():
    """Trains on a finite generator whose length Keras cannot know."""
    dataset = tf.data.Dataset.from_generator(_pairs, output_signature=PAIR_SPEC).batch(4)
    return [m for m in _fit_caught_warnings(dataset) if "ran out of data" in m]
# --8<-- [end:ran_out_broken]


# --8<-- [start:ran_out_fixed]
def ran_out_of_data_fixed():
    """Declares the length right after the generator."""
    dataset = tf.data.Dataset.from_generator(_pairs, output_signature=PAIR_SPEC)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(8)).batch(4)
    return int(dataset.cardinality()), [m for m in _fit_caught_warnings(dataset) if "ran out of data" in m]
# --8<-- [end:ran_out_fixed]


# --8<-- [start:index_broken]
SOURCES = [[1, 2], [3, 4]]  # e.g. one list of records per consumer or shard


def index_by_tensor_broken():
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
def structure_mismatch_broken():
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


# --8<-- [start:registry_broken]
_WORKER = (
    "import os, sys; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'; import tensorflow as tf; "
    "s = tf.data.experimental.service; "
    "w = s.WorkerServer(s.WorkerConfig(dispatcher_address=sys.argv[1])); "
    "print('ready', flush=True); w.join()"
)


@contextlib.contextmanager
def dispatcher_and_remote_worker():
    """A dispatcher in this process and one worker in *another* process."""
    import subprocess
    import sys

    dispatcher = tf.data.experimental.service.DispatchServer()
    address = dispatcher.target.split("://")[1]
    worker = subprocess.Popen([sys.executable, "-c", _WORKER, address],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert worker.stdout.readline().strip() == "ready"
        yield dispatcher.target
    finally:
        worker.kill()
        worker.wait()
        worker.stdout.close()


def generator_on_remote_worker_broken():
    """Sends a from_generator pipeline to a worker in another process."""
    with dispatcher_and_remote_worker() as target:
        dataset = tf.data.Dataset.from_generator(
            lambda: iter(range(3)), output_signature=tf.TensorSpec(shape=(), dtype=tf.int64))
        dataset = dataset.apply(tf.data.experimental.service.distribute("parallel_epochs", target))
        return list(dataset)
# --8<-- [end:registry_broken]


# --8<-- [start:registry_fixed]
def tf_ops_on_remote_worker_fixed():
    """The same elements from TensorFlow ops only: the worker can run them."""
    with dispatcher_and_remote_worker() as target:
        dataset = tf.data.Dataset.range(3)
        dataset = dataset.apply(tf.data.experimental.service.distribute("parallel_epochs", target))
        return sorted(int(x) for x in dataset)
# --8<-- [end:registry_fixed]


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
    core = re.sub(r"\s*\[Op:\w+\].*$", "", core)
    return f"{type(error).__name__}: {core}"


def main():
    with two_files() as paths:
        for broken in (decode_at_trace_broken, decode_at_run_broken):
            try:
                broken(paths)
            except (AttributeError, tf.errors.UnknownError) as error:
                print(f"{broken.__name__}: {type(error).__name__}")
                print("   ", last_line(error))
        print("decode_fixed:", decode_fixed(paths))
    try:
        generator_object_broken()
    except TypeError as error:
        print("generator_object_broken: TypeError:", error)
    print("generator_function_fixed:", generator_function_fixed())
    for broken in (cardinality_mismatch_broken, shape_mismatch_broken, dtype_mismatch_broken,
                   checkpoint_generator_broken, index_by_tensor_broken, structure_mismatch_broken,
                   generator_on_remote_worker_broken):
        try:
            broken()
        except tf.errors.OpError as error:
            print(f"{broken.__name__}: {type(error).__name__}")
            # pyfunc_<n> counts the py_funcs this process created before; hide n.
            print("   ", re.sub(r"pyfunc_\d+", "pyfunc_<n>", last_line(error)))
    print("cardinality_fixed:", cardinality_fixed())
    print("shape_and_dtype_fixed:", shape_and_dtype_fixed())
    print("checkpoint_range_fixed:", checkpoint_range_fixed())
    print("ran_out_of_data_broken: UserWarning:", ran_out_of_data_broken()[0].split(". ")[0] + ".")
    print("ran_out_of_data_fixed:", ran_out_of_data_fixed())
    print("index_by_tensor_fixed:", index_by_tensor_fixed())
    print("structure_fixed:", structure_fixed())
    print("tf_ops_on_remote_worker_fixed:", tf_ops_on_remote_worker_fixed())


if __name__ == "__main__":
    main()
