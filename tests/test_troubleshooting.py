"""Each troubleshooting entry: the error is raised, and the page quotes it verbatim."""

import re

import pytest
import tensorflow as tf

from recipes import troubleshooting as t
from tests.pages import DOCS, markdown_fences

PAGE = DOCS / "reference" / "troubleshooting.md"


def quoted_messages():
    """The ```text blocks that directly follow an entry's heading."""
    text = PAGE.read_text(encoding="utf-8")
    return re.findall(r"^## .*\n\n```text\n(.+)\n```", text, flags=re.MULTILINE)


def test_page_quotes_exactly_the_messages_the_tests_raise():
    assert quoted_messages() == [
        "AttributeError: 'SymbolicTensor' object has no attribute 'decode'",
        "TypeError: `generator` must be a Python callable.",
        "FailedPreconditionError: Input dataset was expected to contain 5 elements but contained only 3 elements.",
        "TypeError: `generator` yielded an element of shape (4,) where an element of shape (3,) was expected.",
        "FailedPreconditionError: PyFunc is stateful.",
        "UserWarning: Your input ran out of data; interrupting training. Make sure that your dataset or "
        "generator can generate at least `steps_per_epoch * epochs` batches. You may need to use the "
        "`.repeat()` function when building your dataset.",
        "TypeError: list indices must be integers or slices, not SymbolicTensor",
        "TypeError: `generator` yielded an element that did not match the expected structure. The expected "
        "structure was (tf.int64, tf.int64, tf.int64), but the yielded element was (1, 2).",
        "ValueError: Could not find callback with key=pyfunc_0 in the registry.",
    ]


def test_decode_at_trace_time():
    with t.two_files() as paths:
        with pytest.raises(AttributeError) as info:
            t.decode_at_trace_broken(paths)
    assert str(info.value).lstrip().startswith("in user code:")
    assert t.last_line(info.value) == quoted_messages()[0]


def test_decode_at_run_time():
    with t.two_files() as paths:
        with pytest.raises(tf.errors.UnknownError) as info:
            t.decode_at_run_broken(paths)
    assert t.last_line(info.value) == quoted_messages()[0]


def test_decode_fixed_delivers_every_row_once_in_order():
    with t.two_files() as paths:
        assert t.decode_fixed(paths) == [[0.0, 0.0], [10.0, 10.0], [1.0, 1.0], [11.0, 11.0]]


def test_generator_object():
    with pytest.raises(TypeError) as info:
        t.generator_object_broken()
    assert f"TypeError: {info.value}" == quoted_messages()[1]


def test_generator_function_gives_a_fresh_generator_per_epoch():
    assert t.generator_function_fixed() == ([0, 1, 2], [0, 1, 2])


def test_every_entry_has_an_anchor_and_a_reproduction():
    headings = [line for line in PAGE.read_text().splitlines() if line.startswith("## `")]
    assert len(headings) == len(quoted_messages())
    assert all(re.search(r"\{ #[a-z0-9-]+ \}$", h) for h in headings)
    plain = [body for info, body in markdown_fences(PAGE) if info == "python"]
    assert len(plain) >= 2 * len(headings)


def test_cardinality_mismatch():
    with pytest.raises(tf.errors.FailedPreconditionError) as info:
        t.cardinality_mismatch_broken()
    assert t.last_line(info.value) == quoted_messages()[2]
    assert t.cardinality_fixed() == (3, [0, 1, 2])


def test_shape_and_dtype_mismatch():
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        t.shape_mismatch_broken()
    assert t.last_line(info.value) == quoted_messages()[3]
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        t.dtype_mismatch_broken()
    related = ("TypeError: `generator` yielded an element that could not be converted to the "
               "expected type. The expected type was int32, but the yielded element was cat.")
    assert t.last_line(info.value) == related
    assert related[len("TypeError: "):] in PAGE.read_text()
    assert t.shape_and_dtype_fixed() == [(4, 0), (2, 1)]


def test_checkpointing_a_generator():
    with pytest.raises(tf.errors.FailedPreconditionError) as info:
        t.checkpoint_generator_broken()
    assert t.last_line(info.value) == quoted_messages()[4]
    assert t.checkpoint_range_fixed() == [10, 20, 30, 40]


def test_ran_out_of_data_warning():
    messages = t.ran_out_of_data_broken()
    assert messages and all(f"UserWarning: {m}" == quoted_messages()[5] for m in messages)
    assert t.ran_out_of_data_fixed() == (2, [])


def test_index_by_tensor():
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        t.index_by_tensor_broken()
    assert t.last_line(info.value) == quoted_messages()[6]
    assert t.index_by_tensor_fixed() == [1, 3, 2, 4]


def test_structure_mismatch():
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        t.structure_mismatch_broken()
    assert t.last_line(info.value) == quoted_messages()[7]
    assert t.structure_fixed() == [(1, 2)]


def test_generator_on_a_remote_worker():
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        t.generator_on_remote_worker_broken()
    line = t.last_line(info.value)
    assert re.fullmatch(r"ValueError: Could not find callback with key=pyfunc_\d+ in the registry\.", line)
    assert t.tf_ops_on_remote_worker_fixed() == [0, 1, 2]
