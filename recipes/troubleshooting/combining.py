"""Troubleshooting, combining datasets: reproductions and their fixes.

Sampling from several datasets (``sample_from_datasets``), choosing from them
(``choose_from_datasets``) and when each stops, ``zip``, ``concatenate`` with
elements that do not match, and repeating one side. Each private ``_*_broken``
function triggers one message exactly as TensorFlow 2.21 raises it, or shows a
silent problem; the public function next to it does the same job the right
way. Run ``python combining.py`` to see every message and every fix. Needs only
the standard library and TensorFlow.
"""

# --8<-- [start:setup]
import os
import re
from collections import Counter

# Hide TensorFlow's C++ start-up notices (oneDNN, CPU features) before import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

INT = tf.TensorSpec((), tf.int64)


def records(first, count):
    """A generator dataset of ``count`` record numbers starting at ``first``."""
    return tf.data.Dataset.from_generator(lambda: iter(range(first, first + count)), output_signature=INT)
# --8<-- [end:setup]


# --8<-- [start:specs_broken]
def _mixed_dtypes_broken():
    """Two sources whose elements differ in dtype: int64 ids and float32 scores."""
    ids = records(0, 3)
    scores = tf.data.Dataset.from_generator(lambda: iter([0.5, 1.5]), output_signature=tf.TensorSpec((), tf.float32))
    return tf.data.Dataset.sample_from_datasets([ids, scores], seed=1)
# --8<-- [end:specs_broken]


# --8<-- [start:specs_fixed]
def same_spec_before_mixing_fixed():
    """Bring every source to one element spec (here float32) before mixing them."""
    ids = records(0, 3).map(lambda x: tf.cast(x, tf.float32))
    scores = tf.data.Dataset.from_generator(lambda: iter([0.5, 1.5]), output_signature=tf.TensorSpec((), tf.float32))
    mixed = tf.data.Dataset.sample_from_datasets([ids, scores], seed=1)
    return mixed.element_spec, sorted(float(x) for x in mixed)
# --8<-- [end:specs_fixed]


# --8<-- [start:sample_stop_broken]
def _sampling_after_one_class_ran_out_broken():
    """Balanced 50/50 sampling of a 20-record class and a 200-record class."""
    rare, common = records(0, 20), records(1000, 200)
    mixed = tf.data.Dataset.sample_from_datasets([rare, common], weights=[0.5, 0.5], seed=7)
    labels = ["rare" if int(x) < 1000 else "common" for x in mixed]
    last_rare = max(i for i, label in enumerate(labels) if label == "rare")
    return len(labels), Counter(labels[last_rare + 1:])  # what follows the last rare record
# --8<-- [end:sample_stop_broken]


# --8<-- [start:sample_stop_fixed]
def balanced_sampling_fixed():
    """Stop at the first empty class, or repeat the small one so the mix stays 50/50."""
    rare, common = records(0, 20), records(1000, 200)
    stopped = tf.data.Dataset.sample_from_datasets(
        [rare, common], weights=[0.5, 0.5], seed=7, stop_on_empty_dataset=True)
    stopped_counts = Counter("rare" if int(x) < 1000 else "common" for x in stopped)
    repeated = tf.data.Dataset.sample_from_datasets(
        [rare.repeat(), common], weights=[0.5, 0.5], seed=7, stop_on_empty_dataset=True)
    repeated_counts = Counter("rare" if int(x) < 1000 else "common" for x in repeated)
    return dict(stopped_counts), dict(repeated_counts)
# --8<-- [end:sample_stop_fixed]


# --8<-- [start:choose_stop_broken]
def _choose_stops_at_an_empty_dataset_broken():
    """Alternating between two sources, one of which has a single record."""
    three, one = records(0, 3), records(10, 1)
    choice = tf.data.Dataset.range(2).repeat(3)  # 0, 1, 0, 1, 0, 1
    return [int(x) for x in tf.data.Dataset.choose_from_datasets([three, one], choice)]
# --8<-- [end:choose_stop_broken]


# --8<-- [start:choose_stop_fixed]
def choose_skips_empty_datasets_fixed():
    """``stop_on_empty_dataset=False`` skips the empty source and goes on with the others."""
    three, one = records(0, 3), records(10, 1)
    choice = tf.data.Dataset.range(2).repeat(3)
    chosen = tf.data.Dataset.choose_from_datasets([three, one], choice, stop_on_empty_dataset=False)
    return [int(x) for x in chosen]
# --8<-- [end:choose_stop_fixed]


# --8<-- [start:selector_broken]
def _choice_out_of_range_broken():
    """A choice dataset built from labels 1 and 2 for a list of two datasets (indices 0 and 1)."""
    labels = tf.data.Dataset.from_tensor_slices(tf.constant([1, 2, 1], tf.int64))
    chosen = tf.data.Dataset.choose_from_datasets([records(0, 3), records(10, 3)], labels)
    return [int(x) for x in chosen]
# --8<-- [end:selector_broken]


# --8<-- [start:selector_fixed]
def choice_from_zero_fixed():
    """Indices count from 0: shift labels that start at 1, and use int64."""
    labels = tf.data.Dataset.from_tensor_slices(tf.constant([1, 2, 1], tf.int32))
    choice = labels.map(lambda label: tf.cast(label, tf.int64) - 1)
    chosen = tf.data.Dataset.choose_from_datasets([records(0, 3), records(10, 3)], choice)
    return [int(x) for x in chosen]
# --8<-- [end:selector_fixed]


# --8<-- [start:concatenate_broken]
def _concatenate_mismatched_broken():
    """Appending (features, label) pairs to a dataset of features only."""
    features = records(0, 2)
    pairs = tf.data.Dataset.zip(records(2, 2), records(0, 2))
    return features.concatenate(pairs)
# --8<-- [end:concatenate_broken]


# --8<-- [start:concatenate_fixed]
def concatenate_same_structure_fixed():
    """Give both sides the same structure first (here: a label of -1 for unlabelled records)."""
    unlabelled = records(0, 2).map(lambda x: (x, tf.constant(-1, tf.int64)))
    labelled = tf.data.Dataset.zip(records(2, 2), records(0, 2))
    both = unlabelled.concatenate(labelled)
    return [(int(x), int(y)) for x, y in both]
# --8<-- [end:concatenate_fixed]


# --8<-- [start:zip_broken]
def _zip_a_list_broken():
    """Zipping a Python list of datasets."""
    return tf.data.Dataset.zip([records(0, 3), records(10, 3)])
# --8<-- [end:zip_broken]


# --8<-- [start:zip_fixed]
def zip_tuple_or_arguments_fixed():
    """A tuple, or the datasets as separate arguments (TensorFlow 2.13 and later)."""
    as_tuple = tf.data.Dataset.zip((records(0, 3), records(10, 3)))
    as_arguments = tf.data.Dataset.zip(records(0, 3), records(10, 3))
    as_dict = tf.data.Dataset.zip({"image": records(0, 3), "label": records(10, 3)})
    return ([(int(a), int(b)) for a, b in as_tuple] == [(int(a), int(b)) for a, b in as_arguments],
            sorted(as_dict.element_spec))
# --8<-- [end:zip_fixed]


# --8<-- [start:zip_short_broken]
def _zip_stops_at_the_shorter_broken():
    """Images from a generator, labels from a list one element short: no error, one image lost."""
    images, labels = records(0, 5), tf.data.Dataset.from_tensor_slices(tf.constant([0, 1, 0, 1], tf.int64))
    zipped = tf.data.Dataset.zip(images, labels)
    return len(list(zipped)), int(zipped.cardinality())
# --8<-- [end:zip_short_broken]


# --8<-- [start:zip_short_fixed]
def zip_checked_lengths_fixed():
    """Declare what each side should hold; a wrong count then fails instead of dropping data."""
    images = records(0, 5).apply(tf.data.experimental.assert_cardinality(5))
    labels = tf.data.Dataset.from_tensor_slices(tf.constant([0, 1, 0, 1], tf.int64))
    if images.cardinality() != labels.cardinality():
        return f"lengths differ: {int(images.cardinality())} images, {int(labels.cardinality())} labels"
    return "same length"
# --8<-- [end:zip_short_fixed]


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


def _report(broken):
    try:
        broken()
    except Exception as error:  # noqa: BLE001 - the demo prints whatever it raises
        print(f"{broken.__name__.lstrip('_')}: {type(error).__name__}")
        print("   ", last_line(error).splitlines()[0])


def main():
    _report(_mixed_dtypes_broken)
    print("same_spec_before_mixing_fixed:", same_spec_before_mixing_fixed())
    print("sampling_after_one_class_ran_out_broken:", _sampling_after_one_class_ran_out_broken())
    print("balanced_sampling_fixed:", balanced_sampling_fixed())
    print("choose_stops_at_an_empty_dataset_broken:", _choose_stops_at_an_empty_dataset_broken())
    print("choose_skips_empty_datasets_fixed:", choose_skips_empty_datasets_fixed())
    _report(_choice_out_of_range_broken)
    print("choice_from_zero_fixed:", choice_from_zero_fixed())
    _report(_concatenate_mismatched_broken)
    print("concatenate_same_structure_fixed:", concatenate_same_structure_fixed())
    _report(_zip_a_list_broken)
    print("zip_tuple_or_arguments_fixed:", zip_tuple_or_arguments_fixed())
    print("zip_stops_at_the_shorter_broken:", _zip_stops_at_the_shorter_broken())
    print("zip_checked_lengths_fixed:", zip_checked_lengths_fixed())


if __name__ == "__main__":
    main()
