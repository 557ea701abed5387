"""``interleave`` and ``map`` together: fuse the transformation, or keep it apart.

A Python generator yields file paths. Each file holds rows of one class, and the
class label is part of the file name (``label-3-part-007.f32``), so a row needs
context that only its file knows. Two pipelines give identical output:

* ``fused``: load, label *and* normalize inside the interleave function.
* ``separate``: the interleave function loads and labels; a separate parallel
  ``map`` normalizes (optionally on whole batches).

Run ``python interleave_and_map.py`` to compare them. Needs only the standard
library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import contextlib
import os
import tempfile

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

COLS = 3  # float32 values per row
# --8<-- [end:setup]


# --8<-- [start:source]
@contextlib.contextmanager
def labelled_files(num_files=4, rows_per_file=3, num_classes=2):
    """Write headerless little-endian float32 files into a private temp folder.

    File ``f`` has label ``f % num_classes``; row ``r`` of it is
    ``[10 f + r, 10 f + r + 1, 10 f + r + 2]``. The folder is removed on exit.
    """
    for name, value in [("num_files", num_files), ("rows_per_file", rows_per_file),
                        ("num_classes", num_classes)]:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    with tempfile.TemporaryDirectory(prefix="genpipe-labelled-") as folder:  # private (mode 700), removed on exit
        paths = []
        for f in range(num_files):
            start = 10 * f + np.arange(rows_per_file, dtype=np.float32)
            rows = start[:, None] + np.arange(COLS, dtype=np.float32)
            path = os.path.join(folder, f"label-{f % num_classes}-part-{f:03d}.f32")
            rows.astype("<f4").tofile(path)
            paths.append(path)
        yield paths


def path_dataset(paths):
    """The source: a Python generator that yields one path (a string) at a time."""
    paths = [os.fspath(p) for p in paths]

    def generate_paths():  # a generator *function*: called anew for each epoch
        yield from paths

    return tf.data.Dataset.from_generator(
        generate_paths, output_signature=tf.TensorSpec(shape=(), dtype=tf.string))
# --8<-- [end:source]


# --8<-- [start:steps]
def label_of(path):
    """Per-file context: the label written in the file name, parsed with TF ops."""
    name = tf.strings.split(path, os.sep)[-1]  # label-3-part-007.f32
    return tf.strings.to_number(tf.strings.split(name, "-")[1], out_type=tf.int32)


def rows_of(path):
    """All rows of one file, read and decoded with TF ops (no Python per row)."""
    values = tf.io.decode_raw(tf.io.read_file(path), tf.float32, little_endian=True)
    return tf.data.Dataset.from_tensor_slices(tf.reshape(values, (-1, COLS)))


def normalize(rows):
    """The transformation: centre each row and scale it by its largest value.

    Works on one row (shape ``[COLS]``) or a batch (``[n, COLS]``) alike.
    """
    centred = rows - tf.reduce_mean(rows, axis=-1, keepdims=True)
    return centred / tf.reduce_max(tf.abs(rows), axis=-1, keepdims=True)
# --8<-- [end:steps]


# --8<-- [start:pipelines]
def fused(paths, cycle_length=2):
    """Load, label and normalize inside the interleave function."""

    def load_label_normalize(path):
        label = label_of(path)
        return rows_of(path).map(lambda row: (normalize(row), label))

    return path_dataset(paths).interleave(
        load_label_normalize, cycle_length=cycle_length,
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    )


def separate(paths, cycle_length=2, batch_size=None):
    """Load and label in the interleave; normalize in a map of its own.

    With ``batch_size`` set, rows are batched before the map (a vectorized map)
    and unbatched after it, so the output is the same element by element.
    """
    def load_and_label(path):
        label = label_of(path)
        return rows_of(path).map(lambda row: (row, label))

    rows = path_dataset(paths).interleave(
        load_and_label, cycle_length=cycle_length,
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    )
    if batch_size is not None:
        rows = rows.batch(batch_size)
    rows = rows.map(lambda row, label: (normalize(row), label),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return rows.unbatch() if batch_size is not None else rows
# --8<-- [end:pipelines]


def main():
    with labelled_files(num_files=4, rows_per_file=2) as paths:
        folder = os.path.dirname(paths[0])
        results = {
            "fused": list(fused(paths).as_numpy_iterator()),
            "separate": list(separate(paths).as_numpy_iterator()),
            "separate, batched": list(separate(paths, batch_size=3).as_numpy_iterator()),
        }
    for name, elements in results.items():
        labels = [int(label) for _, label in elements]
        print(f"{name:<18} labels {labels}")
    first_row, first_label = results["fused"][0]
    print("first row:", [round(float(v), 3) for v in first_row], "label", int(first_label))
    same = all(
        np.allclose(a[0], b[0]) and a[1] == b[1]
        for other in ("separate", "separate, batched")
        for a, b in zip(results["fused"], results[other], strict=True)
    )
    print("all three identical:", same)
    print("temporary folder removed:", not os.path.exists(folder))


if __name__ == "__main__":
    main()
