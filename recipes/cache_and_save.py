"""Run a slow generator once: ``cache`` in memory or on disk, ``save`` and ``load``.

A generator that queries a database or decodes legacy files is often the
slowest stage, and its output is the same every epoch. Three ways to pay for it
once:

* ``dataset.cache()``: the first complete epoch fills a memory cache; later
  epochs of the *same dataset object* read from it. Gone when the process ends.
* ``dataset.cache(path)``: the same, in files that start with ``path``; a later
  run (a new dataset object, a new process) with the same path reads the files
  and never starts the generator.
* ``dataset.save(path)`` and ``tf.data.Dataset.load(path)``: write the whole
  dataset once, as an explicit step, in a format with its own element spec;
  load it anywhere, with any number of shards, without the generator's code.

Run ``python cache_and_save.py`` to count how often the generator runs under
each. Needs only the standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import tempfile

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

# --8<-- [end:setup]


# --8<-- [start:source]
class CountingSource:
    """A stand-in for a slow source that counts how many records it produced."""

    def __init__(self, num_records=5):
        if not isinstance(num_records, int) or num_records < 0:
            raise ValueError(f"num_records must be a non-negative int, got {num_records!r}")
        self.num_records = num_records
        self.produced = 0

    def generate(self):
        for i in range(self.num_records):
            self.produced += 1
            yield np.float32(i) * 10

    def dataset(self):
        spec = tf.TensorSpec(shape=(), dtype=tf.float32)
        return tf.data.Dataset.from_generator(self.generate, output_signature=spec)


# --8<-- [end:source]


# --8<-- [start:cache]
def values(dataset):
    """The dataset's elements as a list of Python floats (easy to print and compare)."""
    return [float(x) for x in dataset]


def memory_cache_epochs(source, epochs=3):
    """``cache()``: the generator runs in the first epoch only."""
    dataset = source.dataset().cache()
    return [values(dataset) for _ in range(epochs)]


def _check_parent(name, path):
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"{name} must be in an existing folder, got {path!r}")


def file_cache_runs(source, prefix, runs=2):
    """``cache(prefix)``: each run builds a new dataset, as a new process would."""
    _check_parent("prefix", prefix)
    return [values(source.dataset().cache(prefix)) for _ in range(runs)]


def save_then_load(source, path):
    """``save`` once; ``load`` needs neither the generator nor its signature."""
    _check_parent("path", path)
    source.dataset().save(path)
    loaded = tf.data.Dataset.load(path)
    return loaded.element_spec, values(loaded)
# --8<-- [end:cache]


def main():
    source = CountingSource(5)
    print("no cache, 3 epochs:   ", [values(source.dataset()) for _ in range(3)][0],
          "records produced:", source.produced)
    source = CountingSource(5)
    memory_cache_epochs(source, 3)
    print("cache(), 3 epochs:     records produced:", source.produced)
    with tempfile.TemporaryDirectory(prefix="genpipe-cache-") as folder:  # private, removed on exit
        source = CountingSource(5)
        file_cache_runs(source, os.path.join(folder, "rows"), runs=2)
        print("cache(file), 2 runs:   records produced:", source.produced)
        source = CountingSource(5)
        spec, loaded = save_then_load(source, os.path.join(folder, "saved"))
        print("save + load:          ", loaded, spec, "records produced:", source.produced)


if __name__ == "__main__":
    main()
