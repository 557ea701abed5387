"""Shuffling and splitting: each message is logged or raised, and the page quotes it verbatim."""

import pytest

from recipes.troubleshooting import shuffling_splitting as t
from tests.troubleshooting.pages import FOLDER, entries, in_background, normalise, quoted

PAGE = FOLDER / "shuffling_splitting.md"
QUOTED = quoted(PAGE)
SLOW_FILL = in_background(t._slow_fill_broken)  # a fresh interpreter waiting 12 s: start it now


def test_slow_fill_logs_the_quoted_line_and_a_small_buffer_reads_little():
    lines = SLOW_FILL.result()
    filling = [line for line in lines if "Filling up" in line]
    assert filling and all(normalise(line) == normalise(QUOTED["filling-up-shuffle-buffer"]) for line in filling)
    assert lines[-1] == "Shuffle buffer filled."
    assert t.reads_before_first_element(16) == (True, True)


def test_validation_split_message():
    with pytest.raises(ValueError) as info:
        t._validation_split_on_dataset_broken()
    assert f"ValueError: {info.value}" == QUOTED["validation-split-is-only-supported-for-tensors-or-numpy-arrays"]
    assert t.two_generators_fixed() == ["loss", "val_loss"]


def test_take_skip_after_a_reshuffling_shuffle_leaks_and_the_hash_split_does_not():
    in_first, in_second, same_training_set = t._shuffle_then_take_skip_broken()
    assert in_first > 0 and in_second > 0 and not same_training_set
    assert t.split_by_hash_fixed() == (0, 0, True)


def test_small_buffer_keeps_the_order_and_shuffled_shards_mix_it():
    assert t._small_buffer_broken(count=1000, buffer_size=10) < 32 + 10
    assert t.shuffled_shards_fixed(count=1000, shards=50, buffer_size=10) > 500


def test_records_leave_at_most_buffer_size_minus_one_places_early_and_late_without_bound():
    import tensorflow as tf

    out = [int(x) for x in tf.data.Dataset.range(1000).shuffle(10, seed=1)]
    earliest = max(record - position for position, record in enumerate(out))
    latest = max(position - record for position, record in enumerate(out))
    assert sorted(out) == list(range(1000))
    assert earliest == 9  # buffer_size - 1
    assert latest == 60  # far more than buffer_size: a record can wait any number of draws
    first_batch = [int(x) for x in t.ordered_ids(1000).shuffle(10, seed=2).take(32)]
    assert max(first_batch) <= 40


def test_every_message_entry_is_reproduced_and_every_entry_has_a_thread():
    assert set(QUOTED) == {"filling-up-shuffle-buffer",
                           "validation-split-is-only-supported-for-tensors-or-numpy-arrays"}
    text = PAGE.read_text(encoding="utf-8")
    for _, anchor, _ in entries(PAGE):
        section = text.split(f"{{ #{anchor} }}", 1)[1].split("\n## ", 1)[0]
        assert "Seen in: [" in section, anchor
