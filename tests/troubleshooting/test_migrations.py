"""Migrations: each deprecation warning and removal error is printed as the page quotes it."""

import pytest

from recipes.troubleshooting import migrations as t
from tests.troubleshooting.pages import FOLDER, entries, in_background, normalise, quoted

PAGE = FOLDER / "migrations.md"
QUOTED = quoted(PAGE)
OLD_CALLS, NEW_CALLS = in_background(t._deprecated_calls_broken), in_background(t.current_calls_fixed)
DEPRECATED = ["output-types-is-deprecated", "parallel-interleave-is-deprecated",
              "map-and-batch-is-deprecated", "shuffle-and-repeat-is-deprecated"]
REMOVED = [
    (t._one_shot_iterator_broken, "object-has-no-attribute-make-one-shot-iterator"),
    (t._output_shapes_attribute_broken, "object-has-no-attribute-output-shapes"),
    (t._py_func_broken, "module-tensorflow-has-no-attribute-py-func"),
]


def test_each_deprecated_call_prints_the_quoted_warning_and_its_replacement_none():
    warnings = OLD_CALLS.result()  # one per line of the script, in order
    assert [normalise(w) for w in warnings] == [normalise(QUOTED[anchor]) for anchor in DEPRECATED]
    assert NEW_CALLS.result() == []
    assert t.current_calls_results() == ([1, 2], [0, 0, 1], [[0, 2], [4, 6]], [0, 0, 1, 1, 2, 2, 3, 3])


@pytest.mark.parametrize("broken, anchor", REMOVED, ids=[r[1] for r in REMOVED])
def test_removed_api_error_is_raised_as_quoted(broken, anchor):
    with pytest.raises(AttributeError) as info:
        broken()
    assert t.last_line(info.value) == QUOTED[anchor]


_COMPAT_PY_FUNC = (
    "import tensorflow as tf\n"
    "print(hasattr(tf, 'py_func'))\n"
    "print(tf.compat.v1.py_func(lambda v: v * 2, [tf.constant(1.0)], tf.float32).numpy())\n")


def _compat_py_func_run():
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-c", _COMPAT_PY_FUNC], capture_output=True, text=True,
                          env=env, timeout=300, check=True)


COMPAT_PY_FUNC = in_background(_compat_py_func_run)  # once-per-process warning: a fresh interpreter


def test_py_func_exists_only_under_compat_v1_and_warns_there():
    proc = COMPAT_PY_FUNC.result()
    assert proc.stdout.split() == ["False", "2.0"]
    assert ("py_func (from tensorflow.python.ops.script_ops) is deprecated and will be removed in a future "
            "version.") in proc.stderr
    assert "tf.py_func is deprecated in TF V2." in proc.stderr


def test_replacements():
    assert t.iterate_fixed() == (1, [2, 3])
    assert t.element_spec_fixed() == ([], "int64")
    assert t.numpy_function_fixed() == [0, 2]


def test_every_message_entry_is_reproduced_and_every_entry_has_a_thread():
    assert set(QUOTED) == set(DEPRECATED) | {r[1] for r in REMOVED}
    text = PAGE.read_text(encoding="utf-8")
    for _, anchor, _ in entries(PAGE):
        section = text.split(f"{{ #{anchor} }}", 1)[1].split("\n## ", 1)[0]
        assert "Seen in: [" in section, anchor
