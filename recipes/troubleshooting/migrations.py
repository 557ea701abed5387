"""Troubleshooting, migrations: deprecated tf.data APIs that old answers still use.

Each ``_*_broken`` reproduction uses a TensorFlow 1 or early TensorFlow 2 API
and gets the deprecation warning or error TensorFlow 2.21 prints; the public
function next to it does the same with today's API. Deprecation warnings are
printed once per process, so they are read from a fresh interpreter. Run
``python migrations.py`` to see every message and every
replacement. Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import re
import subprocess
import sys

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

INT = tf.TensorSpec(shape=(), dtype=tf.int64)


def python_warnings(script):
    """Run ``script`` in a fresh interpreter; return its ``WARNING:tensorflow:`` messages.

    A deprecation warning is three lines (what, ``Instructions for updating:``, and
    the replacement); each is returned as one string with its line breaks.
    """
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300, check=True)
    return re.findall(r"^(WARNING:tensorflow:.*\nInstructions for updating:\n.*)$", proc.stderr, flags=re.MULTILINE)
# --8<-- [end:setup]


# --8<-- [start:deprecated_broken]
_OLD_CALLS = """\
import tensorflow as tf
old = tf.data.Dataset.from_generator(lambda: iter([1, 2]), output_types=tf.int64)
old = tf.data.Dataset.range(2).apply(tf.data.experimental.parallel_interleave(tf.data.Dataset.range, cycle_length=2))
old = tf.data.Dataset.range(4).apply(tf.data.experimental.map_and_batch(lambda x: x * 2, batch_size=2))
old = tf.data.Dataset.range(4).apply(tf.data.experimental.shuffle_and_repeat(buffer_size=4, count=2))
"""


def _deprecated_calls_broken():
    """The four old calls, each in one line of a fresh interpreter."""
    return python_warnings(_OLD_CALLS)
# --8<-- [end:deprecated_broken]


# --8<-- [start:deprecated_fixed]
_NEW_CALLS = """\
import tensorflow as tf
new = tf.data.Dataset.from_generator(lambda: iter([1, 2]), output_signature=tf.TensorSpec((), tf.int64))
new = tf.data.Dataset.range(2).interleave(tf.data.Dataset.range, cycle_length=2,
                                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
new = tf.data.Dataset.range(4).map(lambda x: x * 2, num_parallel_calls=tf.data.AUTOTUNE).batch(2)
new = tf.data.Dataset.range(4).shuffle(4).repeat(2)
"""


def current_calls_fixed():
    """The same four pipelines with today's API: no warning."""
    return python_warnings(_NEW_CALLS)


def current_calls_results():
    """What the replacements produce (the shuffled one as a sorted list)."""
    from_gen = tf.data.Dataset.from_generator(lambda: iter([1, 2]), output_signature=INT)
    interleaved = tf.data.Dataset.range(3).interleave(tf.data.Dataset.range, cycle_length=2,
                                                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    batched = tf.data.Dataset.range(4).map(lambda x: x * 2, num_parallel_calls=tf.data.AUTOTUNE).batch(2)
    shuffled = tf.data.Dataset.range(4).shuffle(4, seed=1).repeat(2)
    return ([int(x) for x in from_gen], [int(x) for x in interleaved],
            [b.numpy().tolist() for b in batched], sorted(int(x) for x in shuffled))
# --8<-- [end:deprecated_fixed]


# --8<-- [start:removed_broken]
def _generator_dataset():
    return tf.data.Dataset.from_generator(lambda: iter([1, 2, 3]), output_signature=INT)


def _one_shot_iterator_broken():
    """TensorFlow 1: ``dataset.make_one_shot_iterator()``."""
    return _generator_dataset().make_one_shot_iterator()


def _output_shapes_attribute_broken():
    """TensorFlow 1: ``dataset.output_shapes`` / ``output_types``."""
    return _generator_dataset().output_shapes


def _py_func_broken():
    """TensorFlow 1: ``tf.py_func``."""
    return tf.data.Dataset.range(2).map(lambda x: tf.py_func(lambda v: v * 2, [x], tf.int64))
# --8<-- [end:removed_broken]


# --8<-- [start:removed_fixed]
def iterate_fixed():
    """``iter(dataset)`` and ``next``, or a ``for`` loop, replace the one-shot iterator."""
    iterator = iter(_generator_dataset())
    return int(next(iterator)), [int(x) for x in iterator]


def element_spec_fixed():
    """``element_spec`` replaces ``output_shapes``, ``output_types`` and ``output_classes``."""
    spec = _generator_dataset().element_spec
    return spec.shape.as_list(), spec.dtype.name


def numpy_function_fixed():
    """``tf.numpy_function`` keeps ``tf.py_func``'s NumPy-in, NumPy-out semantics."""
    dataset = tf.data.Dataset.range(2).map(lambda x: tf.numpy_function(lambda v: v * 2, [x], tf.int64))
    return [int(x) for x in dataset]
# --8<-- [end:removed_fixed]


def last_line(error):
    """``Type: message`` of the error, without the ``in user code:`` traceback of tracing."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line if line.startswith(f"{type(error).__name__}:") else f"{type(error).__name__}: {line}"


def _report(broken):
    try:
        broken()
    except AttributeError as error:
        print(f"{broken.__name__.lstrip('_')}: AttributeError")
        print("   ", last_line(error))


def main():
    for warning in _deprecated_calls_broken():
        print(re.sub(r"From <string>:\d+: ", "From <file>:<line>: ", warning.splitlines()[0]))
    print("current_calls_fixed:", current_calls_fixed())
    print("current_calls_results:", current_calls_results())
    for broken in (_one_shot_iterator_broken, _output_shapes_attribute_broken, _py_func_broken):
        _report(broken)
    print("iterate_fixed:", iterate_fixed())
    print("element_spec_fixed:", element_spec_fixed())
    print("numpy_function_fixed:", numpy_function_fixed())


if __name__ == "__main__":
    main()
