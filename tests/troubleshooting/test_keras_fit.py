"""Keras with generator datasets: each message is raised or warned, and the page quotes it verbatim."""

import pytest

from recipes.troubleshooting import keras_fit as t
from tests.troubleshooting.pages import FOLDER, entries, normalise, quoted

PAGE = FOLDER / "keras_fit.md"
QUOTED = quoted(PAGE)

RAISED = [  # (reproduction, what it raises, the entry that quotes its message)
    (t._unbatched_broken, ValueError, "invalid-input-shape-for-input"),
    (t._flat_tuple_broken, ValueError, "layer-expects-named-inputs-but-it-received-1-input-tensors"),
    (t._dict_with_other_keys_broken, ValueError, "missing-data-for-input"),
    (t._fit_generator_broken, AttributeError, "object-has-no-attribute-fit-generator"),
    (t._fit_with_workers_broken, TypeError, "fit-got-an-unexpected-keyword-argument-workers"),
]
WARNED = [  # (reproduction returning the warnings it caused, the entry that quotes the warning)
    (t._ran_out_of_data_broken, "your-input-ran-out-of-data"),
    (t._fit_with_default_shuffle_broken, "shuffle-true-was-passed-but-will-be-ignored"),
    (t._pydataset_without_super_broken, "your-pydataset-class-should-call-super-init"),
]


@pytest.mark.parametrize("broken, raises, anchor", RAISED, ids=[r[2] for r in RAISED])
def test_message_is_raised_as_quoted(broken, raises, anchor):
    with pytest.raises(raises) as info:
        broken()
    assert normalise(t.keras_message(info.value)) == normalise(QUOTED[anchor])


@pytest.mark.parametrize("broken, anchor", WARNED, ids=[w[1] for w in WARNED])
def test_warning_is_issued_as_quoted(broken, anchor):
    messages = broken()
    assert messages and all(f"UserWarning: {m}" == QUOTED[anchor] for m in messages)


def test_every_message_entry_is_reproduced_and_every_entry_has_a_thread():
    assert set(QUOTED) == {r[2] for r in RAISED} | {w[1] for w in WARNED}
    text = PAGE.read_text(encoding="utf-8")
    for _, anchor, _ in entries(PAGE):
        section = text.split(f"{{ #{anchor} }}", 1)[1].split("\n## ", 1)[0]
        assert "Seen in: [" in section, anchor


def test_fixes_remove_the_errors_and_warnings():
    assert t.ran_out_of_data_fixed() == (2, [])
    assert t.shuffle_in_the_pipeline_fixed() == []
    assert t.batched_fixed() == ([None, 2], 1)
    assert t.nested_inputs_fixed() == 1
    assert t.dict_keyed_by_input_names_fixed() == (["numbers", "extra"], 1)
    assert t.generator_to_fit_fixed() == 2
    assert t.pydataset_with_super_fixed() == (2, [])


def test_validation_without_steps_reads_an_endless_source_until_it_gives_up():
    assert t._validation_never_ends_broken(limit=40) == (40, "validation read 40 batches")
    assert t.validation_steps_fixed() == 2


def test_labels_from_a_second_shuffled_pass_do_not_line_up_with_predictions():
    assert t._predict_then_read_labels_broken() is False
    assert t.predictions_with_their_labels_fixed() == (True, 8)
