"""A generator's life: each message is raised or logged, and the page quotes it verbatim."""

import pytest
import tensorflow as tf

from recipes.troubleshooting import lifecycle as t
from tests.troubleshooting.pages import FOLDER, entries, in_background, quoted

PAGE = FOLDER / "lifecycle.md"
QUOTED = quoted(PAGE)

BROKEN = [  # (reproduction, what it raises, the entry that quotes its message)
    (t._generator_object_broken, TypeError, "generator-must-be-a-python-callable"),
    (t._cardinality_mismatch_broken, tf.errors.FailedPreconditionError, "input-dataset-was-expected-to-contain"),
    (t._stop_iteration_broken, tf.errors.UnknownError, "generator-raised-stopiteration"),
    (t._get_next_past_the_end_broken, tf.errors.OutOfRangeError, "end-of-sequence"),
    (t._next_in_tf_function_past_the_end_broken, tf.errors.OutOfRangeError, "end-of-sequence"),
    (t._checkpoint_generator_broken, tf.errors.FailedPreconditionError, "pyfunc-is-stateful"),
]
LOGGED = {  # entry -> (reproduction that logs it, its fix that logs nothing)
    "error-occurred-when-finalizing-generatordataset-iterator":
        (t._live_iterator_at_exit_broken, t.release_iterator_before_exit_fixed),
    "the-calling-iterator-did-not-fully-read-the-dataset-being-cached":
        (t._partial_cache_broken, t.take_before_cache_fixed),
}


@pytest.mark.parametrize("broken, raises, anchor", BROKEN, ids=[b[0].__name__ for b in BROKEN])
def test_message_is_raised_as_quoted(broken, raises, anchor):
    with pytest.raises(raises) as info:
        broken()
    if raises is TypeError:
        assert f"TypeError: {info.value}" == QUOTED[anchor]
    else:
        assert t.last_line(info.value) == QUOTED[anchor]


def test_an_exception_in_the_generator_ends_with_the_quoted_line():
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        t._exception_in_generator_broken()
    assert str(info.value).splitlines()[-1].strip() == QUOTED["node-pyfunc-op-iteratorgetnext"]
    assert t.last_line(info.value) == "ValueError: bad record 2"
    assert t.original_exception_fixed() == ("InvalidArgumentError", "ValueError", "bad record 2")


LOGS = {f: in_background(f) for pair in LOGGED.values() for f in pair}  # fresh interpreters, started now


@pytest.fixture(scope="module")
def logs():
    return {f: future.result() for f, future in LOGS.items()}


@pytest.mark.parametrize("anchor", sorted(LOGGED))
def test_log_line_is_written_as_quoted_and_the_fix_writes_none(anchor, logs):
    broken, fixed = LOGGED[anchor]
    if broken is t._live_iterator_at_exit_broken:  # the race the page states: the line, or no exit at all
        assert t.FINALIZING == QUOTED[anchor] and t.HUNG == "no exit after 90 s: killed"
        assert logs[broken] in ([t.FINALIZING], [t.HUNG])
    else:
        assert logs[broken] == [QUOTED[anchor]]
    assert logs[fixed] == []


def test_an_interpreter_that_does_not_exit_is_killed_and_said_so():
    assert t.tensorflow_log("import time\ntime.sleep(30)\n", timeout_s=1) == ["no exit after 1 s: killed"]


def test_every_message_entry_is_reproduced_and_every_entry_has_a_thread():
    reproduced = {b[2] for b in BROKEN} | set(LOGGED) | {"node-pyfunc-op-iteratorgetnext"}
    assert set(QUOTED) == reproduced
    text = PAGE.read_text(encoding="utf-8")
    without_thread = []
    for _, anchor, _ in entries(PAGE):
        section = text.split(f"{{ #{anchor} }}", 1)[1].split("\n## ", 1)[0]
        if "Seen in: [" not in section:
            without_thread.append(anchor)
    assert without_thread == ["input-dataset-was-expected-to-contain"]  # no public thread found


def test_shared_generator_object_leaves_the_second_epoch_empty():
    assert t._shared_generator_object_broken() == [[0, 1, 2], []]
    assert t.fresh_generator_per_epoch_fixed() == [[0, 1, 2], [0, 1, 2]]


def test_fixes():
    assert t.generator_function_fixed() == ([0, 1, 2], [0, 1, 2])
    assert t.cardinality_fixed() == (3, [0, 1, 2])
    assert t.return_ends_the_data_fixed() == [1, 2]
    assert t.end_of_data_in_custom_loops_fixed() == ([0, 1], [0, 10], 2)
    assert t.checkpoint_range_fixed() == [10, 20, 30, 40]
