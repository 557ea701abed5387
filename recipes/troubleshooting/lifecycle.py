"""Troubleshooting, a generator's life: reproductions and their fixes.

Creating a generator for each iterator, its length, exceptions in its body,
the end of the data, saving its position, and what TensorFlow logs when an
iterator is torn down. Each private ``_*_broken`` function triggers one message
exactly as TensorFlow 2.21 raises or logs it; the public function next to it
does the same job the right way. Run ``python lifecycle.py`` to
see every message and every fix. Needs only the standard library, NumPy and
TensorFlow.
"""

# --8<-- [start:setup]
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

INT = tf.TensorSpec(shape=(), dtype=tf.int64)
# --8<-- [end:setup]


# --8<-- [start:callable_broken]
def _generator_object_broken():
    """Passes a generator *object* where a generator *function* is required."""
    def count():
        yield from range(3)

    return tf.data.Dataset.from_generator(count(), output_signature=INT)
# --8<-- [end:callable_broken]


# --8<-- [start:callable_fixed]
def generator_function_fixed():
    """Passes the function; TensorFlow calls it for every new iterator."""
    def count():
        yield from range(3)

    dataset = tf.data.Dataset.from_generator(count, output_signature=INT)
    first_epoch = [int(x) for x in dataset]
    second_epoch = [int(x) for x in dataset]  # a fresh generator: not empty
    return first_epoch, second_epoch
# --8<-- [end:callable_fixed]


# --8<-- [start:shared_broken]
def _shared_generator_object_broken():
    """Wraps one generator object in a lambda: every iterator gets the same one."""
    records = (i for i in range(3))  # created once, consumed once
    dataset = tf.data.Dataset.from_generator(lambda: records, output_signature=INT)
    return [[int(x) for x in dataset] for _epoch in range(2)]
# --8<-- [end:shared_broken]


# --8<-- [start:shared_fixed]
def fresh_generator_per_epoch_fixed():
    """The lambda creates the generator, so each epoch starts from the beginning."""
    def records():
        yield from range(3)

    dataset = tf.data.Dataset.from_generator(lambda: records(), output_signature=INT)
    return [[int(x) for x in dataset] for _epoch in range(2)]
# --8<-- [end:shared_fixed]


# --8<-- [start:cardinality_broken]
def _cardinality_mismatch_broken():
    """Declares 5 elements for a generator that yields 3."""
    three = tf.data.Dataset.from_generator(lambda: iter(range(3)), output_signature=INT)
    return list(three.apply(tf.data.experimental.assert_cardinality(5)))
# --8<-- [end:cardinality_broken]


# --8<-- [start:cardinality_fixed]
def cardinality_fixed():
    """Counts what the generator really yields, then declares that."""
    def three():
        yield from range(3)

    dataset = tf.data.Dataset.from_generator(three, output_signature=INT)
    length = sum(1 for _ in three())  # or the length your source reports
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(length))
    return int(dataset.cardinality()), [int(x) for x in dataset]
# --8<-- [end:cardinality_fixed]


# --8<-- [start:stop_iteration_broken]
def _stop_iteration_broken():
    """Signals the end of the data by raising StopIteration inside the generator."""
    def records():
        yield 1
        raise StopIteration  # PEP 479: inside a generator this becomes RuntimeError

    return [int(x) for x in tf.data.Dataset.from_generator(records, output_signature=INT)]
# --8<-- [end:stop_iteration_broken]


# --8<-- [start:stop_iteration_fixed]
def return_ends_the_data_fixed():
    """``return`` (or falling off the end) ends a generator; TensorFlow ends the epoch."""
    def records():
        source = iter([1, 2])
        while True:
            record = next(source, None)  # no StopIteration escapes
            if record is None:
                return
            yield record

    return [int(x) for x in tf.data.Dataset.from_generator(records, output_signature=INT)]
# --8<-- [end:stop_iteration_fixed]


# --8<-- [start:exception_broken]
def _exception_in_generator_broken():
    """The generator's own exception, as the consumer receives it."""
    def records():
        yield 1
        raise ValueError("bad record 2")

    return [int(x) for x in tf.data.Dataset.from_generator(records, output_signature=INT)]
# --8<-- [end:exception_broken]


# --8<-- [start:exception_fixed]
def original_exception_fixed():
    """Catch the OpError; the original exception's type and text are in its message."""
    try:
        _exception_in_generator_broken()
    except tf.errors.InvalidArgumentError as error:
        cause = re.search(r"^(\w+Error): (.*)$", error.message, flags=re.MULTILINE)
        return type(error).__name__, cause.group(1), cause.group(2)
# --8<-- [end:exception_fixed]


# --8<-- [start:end_of_sequence_broken]
def _get_next_past_the_end_broken():
    """A custom loop that asks for one element more than there are."""
    iterator = iter(tf.data.Dataset.range(2))
    return [int(iterator.get_next()) for _ in range(3)]


def _next_in_tf_function_past_the_end_broken():
    """The same inside a ``tf.function`` training step."""
    iterator = iter(tf.data.Dataset.range(2))

    @tf.function
    def step():
        return next(iterator) * 10

    return [int(step()) for _ in range(3)]
# --8<-- [end:end_of_sequence_broken]


# --8<-- [start:end_of_sequence_fixed]
def end_of_data_in_custom_loops_fixed():
    """Three ways to see the end: for-loop, get_next_as_optional, steps from cardinality."""
    dataset = tf.data.Dataset.range(2)
    looped = [int(x) for x in dataset]  # the loop ends at the end of the data

    iterator = iter(dataset)

    @tf.function
    def step():
        optional = iterator.get_next_as_optional()
        value = optional.get_value() * 10 if optional.has_value() else tf.constant(-1, tf.int64)
        return optional.has_value(), value

    stepped = []
    while True:
        has_value, value = step()
        if not has_value:
            break
        stepped.append(int(value))
    return looped, stepped, int(dataset.cardinality())
# --8<-- [end:end_of_sequence_fixed]


# --8<-- [start:checkpoint_broken]
def _checkpoint_generator_broken():
    """Saves the position of an iterator over a ``from_generator`` dataset."""
    dataset = tf.data.Dataset.from_generator(lambda: iter(range(5)), output_signature=INT)
    iterator = iter(dataset)
    next(iterator)
    with tempfile.TemporaryDirectory(prefix="genpipe-trouble-") as folder:
        tf.train.Checkpoint(iterator=iterator).save(os.path.join(folder, "input"))
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
    with tempfile.TemporaryDirectory(prefix="genpipe-trouble-") as folder:
        path = tf.train.Checkpoint(iterator=iterator).save(os.path.join(folder, "input"))
        resumed = iter(dataset)
        tf.train.Checkpoint(iterator=resumed).restore(path)
        return [int(x) for x in resumed]
# --8<-- [end:checkpoint_fixed]


# --8<-- [start:logs]
EXIT_TIMEOUT_S = 90


def tensorflow_log(script, timeout_s=EXIT_TIMEOUT_S):
    """Run ``script`` in a fresh interpreter with TensorFlow's C++ warnings on.

    Returns the messages of its ``W`` (warning) log lines, without time stamps,
    or one line saying so when the interpreter has not exited after
    ``timeout_s`` seconds (it is killed).
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1"}  # 1 hides INFO, shows WARNING
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=env, timeout=timeout_s, check=True)
    except subprocess.TimeoutExpired:  # subprocess.run has killed it
        return [f"no exit after {timeout_s} s: killed"]
    lines = [re.sub(r"^W\d{4} [\d:.]+\s+\d+ \S+:\d+\] ", "", line)
             for line in proc.stderr.splitlines() if re.match(r"^W\d{4} ", line)]
    return [line for line in lines if "will not be optimized" not in line]


# No prefetch: a background thread inside the generator at exit makes the ending racy.
_PREAMBLE = (
    "import tensorflow as tf\n"
    "dataset = tf.data.Dataset.from_generator(lambda: iter(range(1000)),\n"
    "    output_signature=tf.TensorSpec((), tf.int64))\n"
)
# --8<-- [end:logs]


# --8<-- [start:finalizing_broken]
FINALIZING = ("Error occurred when finalizing GeneratorDataset iterator: FAILED_PRECONDITION: Python interpreter "
              "state is not initialized. The process may be terminated.")
HUNG = f"no exit after {EXIT_TIMEOUT_S} s: killed"  # what tensorflow_log returns for a hang


def _live_iterator_at_exit_broken():
    """The script ends while an iterator over a generator is still alive."""
    return tensorflow_log(_PREAMBLE + "iterator = iter(dataset)\nnext(iterator)\n")
# --8<-- [end:finalizing_broken]


# --8<-- [start:finalizing_fixed]
def release_iterator_before_exit_fixed():
    """Drop the iterator (end the loop, ``del`` it) while Python is still running."""
    return tensorflow_log(_PREAMBLE + "iterator = iter(dataset)\nnext(iterator)\ndel iterator\n")
# --8<-- [end:finalizing_fixed]


# --8<-- [start:cache_broken]
def _partial_cache_broken():
    """``cache()`` then ``take()``: the iterator stops before the cache is complete."""
    return tensorflow_log(
        "import tensorflow as tf\n"
        "dataset = tf.data.Dataset.range(5).cache().take(2)\n"
        "print(list(dataset.as_numpy_iterator()))\n")
# --8<-- [end:cache_broken]


# --8<-- [start:cache_fixed]
def take_before_cache_fixed():
    """``take()`` then ``cache()``: the cache holds exactly what is read."""
    return tensorflow_log(
        "import tensorflow as tf\n"
        "dataset = tf.data.Dataset.range(5).take(2).cache()\n"
        "print(list(dataset.as_numpy_iterator()))\n")
# --8<-- [end:cache_fixed]


def last_line(error):
    """The line a user searches for: ``Type: message``, without TensorFlow's wrapping.

    TensorFlow wraps errors raised inside a ``py_func`` in an ``OpError`` whose
    text holds the original traceback, and frames its own runtime errors as
    ``{{function_node ...}} message [Op:IteratorGetNext] name:``; errors inside
    a ``tf.function`` start with ``Graph execution error:`` and the place the op
    was defined.
    """
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.isidentifier() and head.endswith(("Error", "Exception")):
            return line
    if lines and lines[0] == "Graph execution error:":
        core = next(line for line in lines if not line.startswith(("Graph", "Detected", "File")))
    else:
        core = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", lines[0] if lines else "")
    core = re.sub(r"\s*\[Op:\w+\].*$", "", core)
    return f"{type(error).__name__}: {core}"


def _report(broken):
    try:
        broken()
    except Exception as error:  # noqa: BLE001 - the demo prints whatever it raises
        print(f"{broken.__name__.lstrip('_')}: {type(error).__name__}")
        print("   ", last_line(error))


def main():
    _report(_generator_object_broken)
    print("generator_function_fixed:", generator_function_fixed())
    print("shared_generator_object_broken:", _shared_generator_object_broken())
    print("fresh_generator_per_epoch_fixed:", fresh_generator_per_epoch_fixed())
    for broken in (_cardinality_mismatch_broken, _stop_iteration_broken, _exception_in_generator_broken,
                   _get_next_past_the_end_broken, _next_in_tf_function_past_the_end_broken,
                   _checkpoint_generator_broken):
        _report(broken)
    print("cardinality_fixed:", cardinality_fixed())
    print("return_ends_the_data_fixed:", return_ends_the_data_fixed())
    print("original_exception_fixed:", original_exception_fixed())
    print("end_of_data_in_custom_loops_fixed:", end_of_data_in_custom_loops_fixed())
    print("checkpoint_range_fixed:", checkpoint_range_fixed())
    runs = (_live_iterator_at_exit_broken, release_iterator_before_exit_fixed,
            _partial_cache_broken, take_before_cache_fixed)
    with ThreadPoolExecutor(len(runs)) as pool:  # four fresh interpreters, side by side
        logs = list(pool.map(lambda run: run(), runs))
    for run, log in zip(runs, logs):
        if run is _live_iterator_at_exit_broken:  # a race: the warning, or (rarely) no exit at all
            print(f"{run.__name__.lstrip('_')}: the warning or no exit:", log in ([FINALIZING], [HUNG]))
        else:
            print(f"{run.__name__.lstrip('_')}:", log)


if __name__ == "__main__":
    main()
