"""Python values and tensors: each message is raised, and the page quotes it verbatim."""

import pytest
import tensorflow as tf

from recipes.troubleshooting import signatures as t
from tests.troubleshooting.pages import FOLDER, entries, normalise, quoted

PAGE = FOLDER / "signatures.md"
QUOTED = quoted(PAGE)

BROKEN = [  # (reproduction, what it raises, the entry that quotes its message)
    (t._shape_mismatch_broken, tf.errors.InvalidArgumentError, "generator-yielded-an-element-of-shape"),
    (t._dtype_mismatch_broken, tf.errors.InvalidArgumentError,
     "generator-yielded-an-element-that-could-not-be-converted"),
    (t._index_by_tensor_broken, tf.errors.InvalidArgumentError, "list-indices-must-be-integers-not-symbolictensor"),
    (t._structure_mismatch_broken, tf.errors.InvalidArgumentError,
     "generator-yielded-an-element-that-did-not-match-the-expected-structure"),
    (t._list_in_signature_broken, TypeError, "output-signature-must-contain-typespec"),
    (t._no_signature_broken, TypeError, "to-specify-the-output-signature"),
    (t._numpy_function_dtype_broken, tf.errors.InvalidArgumentError,
     "value-returned-by-pyfunc-is-double-but-expects-float"),
    (t._numpy_in_map_broken, AttributeError, "symbolictensor-has-no-attribute-numpy"),
    (t._numpy_in_numpy_function_broken, tf.errors.UnknownError, "numpy-object-has-no-attribute-numpy"),
    (t._unknown_shape_broken, ValueError, "cannot-take-the-length-of-shape-with-unknown-rank"),
]


@pytest.mark.parametrize("broken, raises, anchor", BROKEN, ids=[b[2] for b in BROKEN])
def test_message_is_raised_as_quoted(broken, raises, anchor):
    with pytest.raises(raises) as info:
        broken()
    assert normalise(t.last_line(info.value)) == normalise(QUOTED[anchor])


def test_every_message_entry_is_reproduced_and_every_entry_has_a_thread():
    reproduced = {b[2] for b in BROKEN} | {"symbolictensor-has-no-attribute-decode"}
    assert set(QUOTED) == reproduced
    text = PAGE.read_text(encoding="utf-8")
    for _, anchor, _ in entries(PAGE):
        section = text.split(f"{{ #{anchor} }}", 1)[1].split("\n## ", 1)[0]
        assert "Seen in: [" in section, anchor


def test_decode_at_trace_and_at_run_time():
    with t.two_files() as paths:
        with pytest.raises(AttributeError) as info:
            t._decode_at_trace_broken(paths)
        assert str(info.value).lstrip().startswith("in user code:")
        assert t.last_line(info.value) == QUOTED["symbolictensor-has-no-attribute-decode"]
        with pytest.raises(tf.errors.UnknownError) as info:
            t._decode_at_run_broken(paths)
        assert t.last_line(info.value) == QUOTED["symbolictensor-has-no-attribute-decode"]
        assert t.decode_fixed(paths) == [[0.0, 0.0], [10.0, 10.0], [1.0, 1.0], [11.0, 11.0]]


def test_related_messages_quoted_in_the_text():
    text = PAGE.read_text(encoding="utf-8")
    for broken in (t._dtype_as_signature_broken, t._both_signatures_broken):
        with pytest.raises(TypeError) as info:
            broken()
        assert str(info.value) in text


def test_py_function_is_differentiable_and_stateful_numpy_function_neither():
    import inspect

    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        through_py_function = tf.py_function(lambda v: v * v, [x], tf.float32)
        through_numpy_function = tf.numpy_function(lambda v: v * v, [x], tf.float32)
    assert float(tape.gradient(through_py_function, x)) == 6.0
    assert tape.gradient(through_numpy_function, x) is None
    assert "stateful" not in inspect.signature(tf.py_function).parameters
    assert inspect.signature(tf.numpy_function).parameters["stateful"].default is True

    @tf.function
    def wrapped(v):
        return (tf.py_function(lambda t: t, [v], tf.float32),
                tf.numpy_function(lambda t: t, [v], tf.float32),
                tf.numpy_function(lambda t: t, [v], tf.float32, stateful=False))

    graph = wrapped.get_concrete_function(tf.TensorSpec((), tf.float32)).graph
    ops = [(op.type, op._is_stateful) for op in graph.get_operations() if op.type.endswith(("PyFunc", "Stateless"))]
    assert ops == [("EagerPyFunc", True), ("PyFunc", True), ("PyFuncStateless", False)]


def test_fixes():
    assert t.shape_and_dtype_fixed() == [(4, 0), (2, 1)]
    assert t.index_by_tensor_fixed() == [1, 3, 2, 4]
    assert t.structure_fixed() == [(1, 2)]
    assert t.tuple_signature_fixed() == ([2], [3], 1.0)
    assert t.signature_only_fixed() == [1, 2]
    assert t.numpy_function_dtype_fixed() == [0.0, 0.5]
    assert t.numpy_and_py_function_fixed() == [(0, 0), (2, 3)]


def test_unknown_shape_fix_gives_keras_a_static_shape():
    assert t.unknown_shape_fixed() == ([None, 2], 1)
