"""Troubleshooting, the functions given to ``interleave`` and ``flat_map``: reproductions and fixes.

What the function must return (a dataset, not tensors or a tuple), how it
receives its element, how a generator inside it gets its argument, and how many
inner datasets (and generators) are open at once. Each private ``_*_broken``
function triggers one message exactly as TensorFlow 2.21 raises it, or shows a
silent problem; the public function next to it does the same job the right
way. Run ``python interleave_flat_map.py`` to see every message and every fix.
Needs only the standard library and TensorFlow.
"""

# --8<-- [start:setup]
import os
import re
import tempfile
import threading

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

LINE = tf.TensorSpec((), tf.string)


def make_csv_files(folder):
    """Two small text files, ``a.csv`` and ``b.csv``, of two lines each; returns their paths."""
    paths = []
    for name in ("a", "b"):
        path = os.path.join(folder, f"{name}.csv")
        with open(path, "w") as file:
            file.write(f"{name}1\n{name}2\n")
        paths.append(path)
    return paths
# --8<-- [end:setup]


# --8<-- [start:tensor_broken]
def _flat_map_returns_a_tensor_broken():
    """The function returns a tensor (each row of a batch), not a dataset."""
    batches = tf.data.Dataset.range(6).batch(3)
    return batches.flat_map(lambda batch: batch * 10)
# --8<-- [end:tensor_broken]


# --8<-- [start:tensor_fixed]
def flat_map_returns_a_dataset_fixed():
    """Wrap the tensor in a dataset: ``from_tensor_slices`` gives one element per row."""
    batches = tf.data.Dataset.range(6).batch(3)
    unbatched = batches.flat_map(lambda batch: tf.data.Dataset.from_tensor_slices(batch * 10))
    return [int(x) for x in unbatched], [int(x) for x in batches.unbatch().map(lambda x: x * 10)]
# --8<-- [end:tensor_fixed]


# --8<-- [start:tuple_broken]
def _interleave_returns_a_tuple_broken():
    """The function returns (features dataset, labels dataset), as it would return a pair from ``map``."""
    ids = tf.data.Dataset.range(2)
    return ids.interleave(lambda i: (tf.data.Dataset.range(i, i + 2), tf.data.Dataset.range(2)), cycle_length=2)
# --8<-- [end:tuple_broken]


# --8<-- [start:tuple_fixed]
def interleave_returns_a_zipped_dataset_fixed():
    """Zip the two into one dataset of pairs."""
    ids = tf.data.Dataset.range(2)
    pairs = ids.interleave(
        lambda i: tf.data.Dataset.zip(tf.data.Dataset.range(i, i + 2), tf.data.Dataset.range(2)), cycle_length=2)
    return [(int(x), int(y)) for x, y in pairs]
# --8<-- [end:tuple_fixed]


# --8<-- [start:unpacked_broken]
def _one_parameter_for_a_pair_broken():
    """Elements are (path, label) pairs; the function takes one parameter."""
    pairs = tf.data.Dataset.from_tensor_slices((["a.csv", "b.csv"], [0, 1]))

    def lines_of(element):
        path, label = element
        return tf.data.TextLineDataset(path).map(lambda line: (line, label))

    return pairs.interleave(lines_of, cycle_length=2)
# --8<-- [end:unpacked_broken]


# --8<-- [start:unpacked_fixed]
def one_parameter_per_component_fixed(folder):
    """A tuple element is passed as separate arguments: one parameter per component."""
    paths = make_csv_files(folder)
    pairs = tf.data.Dataset.from_tensor_slices((paths, [0, 1]))

    def lines_of(path, label):
        return tf.data.TextLineDataset(path).map(lambda line: (line, label))

    return [(line.decode(), int(label)) for line, label in pairs.interleave(lines_of, cycle_length=2)
            .as_numpy_iterator()]
# --8<-- [end:unpacked_fixed]


# --8<-- [start:symbolic_broken]
def _generator_closes_over_the_tensor_broken(folder):
    """The generator reads ``path`` from the enclosing lambda: a symbolic tensor, not a file name."""
    def lines(path):
        with open(path) as file:
            yield from (line.strip() for line in file)

    paths = tf.data.Dataset.from_tensor_slices(make_csv_files(folder))
    return list(paths.interleave(
        lambda path: tf.data.Dataset.from_generator(lambda: lines(path), output_signature=LINE), cycle_length=2))
# --8<-- [end:symbolic_broken]


# --8<-- [start:bytes_broken]
def _bytes_argument_used_as_str_broken(folder):
    """``args=`` hands the generator bytes; the generator treats them as ``str``."""
    def lines(path):
        if not path.endswith(".csv"):
            return
        with open(path) as file:
            yield from (line.strip() for line in file)

    paths = tf.data.Dataset.from_tensor_slices(make_csv_files(folder))
    return list(paths.interleave(
        lambda path: tf.data.Dataset.from_generator(lines, args=(path,), output_signature=LINE), cycle_length=2))
# --8<-- [end:bytes_broken]


# --8<-- [start:args_fixed]
def generator_gets_the_path_through_args_fixed(folder):
    """Pass the tensor with ``args=``; the generator receives bytes and decodes them."""
    def lines(path):
        path = path.decode()  # args arrive as NumPy values: a string tensor becomes bytes
        if not path.endswith(".csv"):
            return
        with open(path) as file:
            yield from (line.strip() for line in file)

    paths = tf.data.Dataset.from_tensor_slices(make_csv_files(folder))
    interleaved = paths.interleave(
        lambda path: tf.data.Dataset.from_generator(lines, args=(path,), output_signature=LINE), cycle_length=2)
    return [line.decode() for line in interleaved.as_numpy_iterator()]
# --8<-- [end:args_fixed]


# --8<-- [start:open_broken]
class OpenGenerators:
    """Counts the generators that are open (started, not yet finished) and the most at once."""

    def __init__(self):
        self.now, self.most, self._lock = 0, 0, threading.Lock()

    def records(self, shard):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            for i in range(3):
                yield int(shard) * 10 + i
        finally:
            with self._lock:
                self.now -= 1


def most_open_generators(shards, **interleave_options):
    """Reads ``shards`` inner generators through ``interleave``; the most that were open at once."""
    counter = OpenGenerators()
    dataset = tf.data.Dataset.range(shards).interleave(
        lambda shard: tf.data.Dataset.from_generator(
            counter.records, args=(shard,), output_signature=tf.TensorSpec((), tf.int64)),
        **interleave_options)
    count = sum(1 for _ in dataset)
    return count, counter.most, counter.now


def _default_cycle_length_broken():
    """No ``cycle_length``: as many inner generators open as the machine has cores."""
    return most_open_generators(64)
# --8<-- [end:open_broken]


# --8<-- [start:open_fixed]
def explicit_cycle_length_fixed():
    """Say how many inner datasets may be open: memory then grows with that, not with the cores."""
    return most_open_generators(64, cycle_length=2), most_open_generators(64, cycle_length=4)
# --8<-- [end:open_fixed]


def last_line(error):
    """The line a user searches for: ``Type: message``, without TensorFlow's wrapping."""
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.isidentifier() and head.endswith(("Error", "Exception")):
            return line
    core = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", lines[0] if lines else "")
    core = re.sub(r"\s*\[Op:\w+\].*$", "", core)
    return f"{type(error).__name__}: {core}"


def _report(broken, *args):
    try:
        broken(*args)
    except Exception as error:  # noqa: BLE001 - the demo prints whatever it raises
        print(f"{broken.__name__.lstrip('_')}: {type(error).__name__}")
        print("   ", last_line(error))


def main():
    _report(_flat_map_returns_a_tensor_broken)
    print("flat_map_returns_a_dataset_fixed:", flat_map_returns_a_dataset_fixed())
    _report(_interleave_returns_a_tuple_broken)
    print("interleave_returns_a_zipped_dataset_fixed:", interleave_returns_a_zipped_dataset_fixed())
    _report(_one_parameter_for_a_pair_broken)
    with tempfile.TemporaryDirectory(prefix="genpipe-trouble-") as folder:
        print("one_parameter_per_component_fixed:", one_parameter_per_component_fixed(folder))
        _report(_generator_closes_over_the_tensor_broken, folder)
        _report(_bytes_argument_used_as_str_broken, folder)
        print("generator_gets_the_path_through_args_fixed:", generator_gets_the_path_through_args_fixed(folder))
    count, most, still_open = _default_cycle_length_broken()
    print("default_cycle_length_broken:", (count, most == min(os.cpu_count(), 64), still_open))
    print("explicit_cycle_length_fixed:", explicit_cycle_length_fixed())


if __name__ == "__main__":
    main()
