"""Troubleshooting, persisting what a generator produced: reproductions and their fixes.

Writing TFRecord files (what the writer and ``tf.train`` lists accept,
serializing tensors and reading them back), ``Dataset.save`` and ``load``, and
what does not persist a generator: ``snapshot`` of a generator, pickling a
dataset to hand it to another process. Each private ``_*_broken`` function
triggers one message exactly as TensorFlow 2.21 raises it, or shows a silent
problem; the public function next to it does the same job the right way. Run
``python persisting.py`` to see every message and every fix. Needs only the
standard library, NumPy and TensorFlow.
"""

# --8<-- [start:setup]
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

VECTOR = tf.TensorSpec((2,), tf.float32)


def vectors():
    """What the generator produced: three float32 vectors."""
    return tf.data.Dataset.from_generator(
        lambda: (np.array([i, i + 0.5], np.float32) for i in range(3)), output_signature=VECTOR)
# --8<-- [end:setup]


# --8<-- [start:writer_broken]
def _write_a_tensor_broken(folder):
    """Hands the writer a tensor (here, already serialized) instead of Python bytes."""
    with tf.io.TFRecordWriter(os.path.join(folder, "vectors.tfrecord")) as writer:
        for vector in vectors():
            writer.write(tf.io.serialize_tensor(vector))
# --8<-- [end:writer_broken]


# --8<-- [start:writer_fixed]
def bytes_for_the_writer_fixed(folder):
    """The writer takes bytes: ``.numpy()`` of a string tensor, or ``SerializeToString()``."""
    path = os.path.join(folder, "vectors.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for vector in vectors():
            writer.write(tf.io.serialize_tensor(vector).numpy())
    read = tf.data.TFRecordDataset(path).map(lambda record: tf.io.parse_tensor(record, tf.float32))
    return [v.tolist() for v in read.as_numpy_iterator()]
# --8<-- [end:writer_fixed]


# --8<-- [start:bytes_list_broken]
def _tensor_in_bytes_list_broken():
    """Puts a string tensor into a ``tf.train.BytesList``."""
    vector = next(iter(vectors()))
    return tf.train.BytesList(value=[tf.io.serialize_tensor(vector)])
# --8<-- [end:bytes_list_broken]


# --8<-- [start:bytes_list_fixed]
def example_from_tensors_fixed():
    """``BytesList`` takes bytes, ``FloatList`` and ``Int64List`` take flat sequences of numbers."""
    vector = next(iter(vectors()))
    example = tf.train.Example(features=tf.train.Features(feature={
        "tensor": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(vector).numpy()])),
        "values": tf.train.Feature(float_list=tf.train.FloatList(value=vector.numpy().reshape(-1))),
        "length": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(tf.size(vector))])),
    }))
    parsed = tf.io.parse_single_example(example.SerializeToString(), {
        "tensor": tf.io.FixedLenFeature([], tf.string),
        "values": tf.io.FixedLenFeature([2], tf.float32),
        "length": tf.io.FixedLenFeature([], tf.int64),
    })
    restored = tf.io.parse_tensor(parsed["tensor"], tf.float32)
    return restored.numpy().tolist(), parsed["values"].numpy().tolist(), int(parsed["length"])
# --8<-- [end:bytes_list_fixed]


# --8<-- [start:parse_broken]
def _parse_with_another_dtype_broken():
    """Serialized as float32 (NumPy's float64 cast by the signature), read back as float64."""
    vector = next(iter(vectors()))
    return tf.io.parse_tensor(tf.io.serialize_tensor(vector), out_type=tf.float64)
# --8<-- [end:parse_broken]


# --8<-- [start:parse_fixed]
def parse_with_the_written_dtype_fixed():
    """Read back with the dtype that was written: the dataset's ``element_spec`` says which."""
    dataset = vectors()
    serialized = tf.io.serialize_tensor(next(iter(dataset)))
    restored = tf.io.parse_tensor(serialized, out_type=dataset.element_spec.dtype)
    return restored.dtype.name, restored.numpy().tolist()
# --8<-- [end:parse_fixed]


# --8<-- [start:load_broken]
def _load_from_a_deleted_folder_broken(folder):
    """``load`` a saved dataset, then remove its folder before the dataset is read."""
    path = os.path.join(folder, "saved")
    vectors().save(path)
    loaded = tf.data.Dataset.load(path)
    shutil.rmtree(path)  # or: the TemporaryDirectory it lived in has ended
    return list(loaded.as_numpy_iterator())  # the files are read only now
# --8<-- [end:load_broken]


# --8<-- [start:load_fixed]
def load_while_the_files_exist_fixed():
    """Keep the saved folder for as long as the loaded dataset is used."""
    folder = tempfile.mkdtemp(prefix="genpipe-trouble-")
    try:
        vectors().save(os.path.join(folder, "saved"))
        loaded = tf.data.Dataset.load(os.path.join(folder, "saved"))
        return loaded.element_spec, [v.tolist() for v in loaded.as_numpy_iterator()]
    finally:
        shutil.rmtree(folder)
# --8<-- [end:load_fixed]


# --8<-- [start:snapshot_broken]
_SNAPSHOT_SCRIPT = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import tensorflow as tf

count, folder = int(sys.argv[1]), sys.argv[2]

def numbers():  # stands for your generator; the data behind it changes between runs
    yield from range(count)

dataset = tf.data.Dataset.from_generator(numbers, output_signature=tf.TensorSpec((), tf.int64))
print([int(x) for x in dataset.snapshot(folder)])
"""


def _snapshot_of_a_changed_generator_broken(folder):
    """Runs the same script twice; the second run's generator yields 5 records, not 3."""
    runs = []
    for count in (3, 5):
        proc = subprocess.run([sys.executable, "-c", _SNAPSHOT_SCRIPT, str(count), folder],
                              capture_output=True, text=True, timeout=300, check=True)
        runs.append(proc.stdout.strip())
    return runs
# --8<-- [end:snapshot_broken]


# --8<-- [start:snapshot_fixed]
def save_under_a_versioned_name_fixed(folder):
    """``save`` to a folder named after the source's version; ``load`` exactly that folder."""
    def dataset_of(count):
        def numbers():
            yield from range(count)
        return tf.data.Dataset.from_generator(numbers, output_signature=tf.TensorSpec((), tf.int64))

    results = []
    for version, count in (("v1", 3), ("v2", 5)):
        path = os.path.join(folder, f"numbers-{version}")
        if not os.path.exists(path):
            dataset_of(count).save(path)
        results.append([int(x) for x in tf.data.Dataset.load(path)])
    return results
# --8<-- [end:snapshot_fixed]


# --8<-- [start:pickle_broken]
def _pickle_a_dataset_broken():
    """Pickles a dataset, as ``multiprocessing`` does to send it to another process."""
    return pickle.dumps(vectors().batch(2))
# --8<-- [end:pickle_broken]


# --8<-- [start:pickle_fixed]
def build_the_dataset_where_it_is_used(count):
    """A picklable recipe: a top-level function and plain arguments, not the dataset itself."""
    return tf.data.Dataset.from_generator(
        lambda: (np.array([i, i + 0.5], np.float32) for i in range(count)), output_signature=VECTOR).batch(2)


def send_the_recipe_fixed():
    """What crosses the process boundary is the function and its arguments."""
    recipe = pickle.loads(pickle.dumps((build_the_dataset_where_it_is_used, 3)))
    function, count = recipe
    return [batch.shape for batch in function(count).as_numpy_iterator()]
# --8<-- [end:pickle_fixed]


def last_line(error):
    """The line a user searches for: ``Type: message``, without TensorFlow's wrapping."""
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.isidentifier() and head.endswith(("Error", "Exception")):
            return line
    core = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", lines[0] if lines else "")
    core = re.sub(r"\s*\[(Op|\[\{\{node)[^\]]*\]+.*$", "", core)
    return f"{type(error).__name__}: {core}"


def _report(broken, *args):
    try:
        broken(*args)
    except Exception as error:  # noqa: BLE001 - the demo prints whatever it raises
        line = last_line(error).splitlines()[0]
        for folder in args:  # a temporary folder's name changes from run to run
            line = line.replace(folder, "FOLDER")
        print(f"{broken.__name__.lstrip('_')}: {type(error).__name__}")
        print("   ", line)


def main():
    with tempfile.TemporaryDirectory(prefix="genpipe-trouble-") as folder:
        _report(_write_a_tensor_broken, folder)
        print("bytes_for_the_writer_fixed:", bytes_for_the_writer_fixed(folder))
        _report(_tensor_in_bytes_list_broken)
        print("example_from_tensors_fixed:", example_from_tensors_fixed())
        _report(_parse_with_another_dtype_broken)
        print("parse_with_the_written_dtype_fixed:", parse_with_the_written_dtype_fixed())
        _report(_load_from_a_deleted_folder_broken, folder)
        print("load_while_the_files_exist_fixed:", load_while_the_files_exist_fixed())
        print("snapshot_of_a_changed_generator_broken:",
              _snapshot_of_a_changed_generator_broken(os.path.join(folder, "snapshot")))
        print("save_under_a_versioned_name_fixed:", save_under_a_versioned_name_fixed(folder))
        _report(_pickle_a_dataset_broken)
        print("send_the_recipe_fixed:", send_the_recipe_fixed())


if __name__ == "__main__":
    main()
