"""Performance: the retracing warning as quoted, and the input-bound verdict before and after the fix.

The input-bound comparison uses sleeps (200 ms per batch and reader against a
50 ms step), so it holds on a loaded machine: waiting does not need a free core.
"""

from recipes.troubleshooting import performance as t
from tests.troubleshooting.pages import FOLDER, entries, normalise, quoted

PAGE = FOLDER / "performance.md"
QUOTED = quoted(PAGE)


def test_changing_shapes_retrace_the_step_and_log_the_quoted_warning():
    traces, messages = t._train_step_per_shape_broken()
    assert traces == 6
    assert normalise(f"WARNING:tensorflow:{messages[0]}") == normalise(QUOTED["triggered-tf-function-retracing"])
    assert [m.split(" calls to")[0] for m in messages] == ["5 out of the last 5", "6 out of the last 6"]


def test_the_warning_is_printed_at_most_twice_per_function_code():
    total = t.tf.Variable(0.0)

    def step(batch):
        total.assign_add(t.tf.reduce_sum(batch))

    counts = []
    for _ in range(2):  # two tf.functions over the same Python code
        function = t.tf.function(step)
        with t.TensorFlowWarnings() as caught:
            for batch in t.batches():
                function(batch)
        counts.append(len([m for m in caught.messages if "retracing" in m]))
    assert counts == [2, 0]


def test_an_input_signature_traces_once():
    assert t.train_step_with_signature_fixed() == (1, [])


def test_one_slow_reader_is_input_bound_and_parallel_readers_are_not():
    assert t.is_input_bound(t.model_step(), t._slow_reader()) is True
    assert t.parallel_readers_fixed() is False


def test_every_message_entry_is_reproduced_and_every_entry_has_a_thread():
    assert set(QUOTED) == {"triggered-tf-function-retracing"}
    text = PAGE.read_text(encoding="utf-8")
    for _, anchor, _ in entries(PAGE):
        section = text.split(f"{{ #{anchor} }}", 1)[1].split("\n## ", 1)[0]
        assert "Seen in: [" in section, anchor
