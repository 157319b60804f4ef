"""Templates: no prompt shows a field derived from its target; held-out prompts get no extra hint."""

import pytest

from genrec.tasks import examples
from genrec.tasks.templates import FamilyTemplates, Template, all_families, explanation


def test_explanation_prompts_never_show_the_target_feature_word(tiny_rec, tiny_ids):
    family = explanation.TEMPLATES
    shown = [family.by_id(i) for i in family.seen] + [family.heldout]
    samples = list(examples.samples("explanation", tiny_rec, tiny_ids, "validation"))
    assert samples
    for sample in samples:
        feature = sample.fields["feature"]
        assert feature in sample.fields["explanation"].lower()
        for template in shown:
            assert feature not in template.render(sample.fields)[0].lower(), (template.id, feature)


@pytest.mark.parametrize("name", sorted(all_families()))
def test_heldout_prompt_shows_no_field_the_seen_prompts_do_not(name):
    family = all_families()[name]
    seen = set().union(*(family.by_id(i).input_fields for i in family.seen))
    assert family.heldout.input_fields <= seen
    assert not {f for t in family.train + (family.heldout,) for f in t.input_fields} & set(family.target_only)


def test_explanation_words_are_target_only_and_a_prompt_reading_one_is_refused():
    assert {"explanation", "feature"} <= set(explanation.TEMPLATES.target_only)
    hinted = Template("hinted", 'Explain {item} using "{feature}".', "{explanation}", "text")
    plain = Template("plain", "Explain {item}.", "{explanation}", "text")
    with pytest.raises(
        ValueError, match=r"template hinted: inputs read target-only field\(s\) \['feature'\]"
    ):
        FamilyTemplates(train=(plain,), seen=("plain",), heldout=hinted, target_only=("feature",))
