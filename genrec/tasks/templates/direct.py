"""Direct recommendation: user + a candidate list (the held-out item among sampled items the user never
had) → the chosen item; plus yes/no forms.

Fields: user, candidates (identifiers, in a shuffled order), target, title (of the target),
candidate (the target or a sampled item the user never had), candidate_answer, history.
"""

from genrec.tasks.templates import FamilyTemplates, Template

_ITEM = "item"
TEMPLATES = FamilyTemplates(
    train=(
        Template(
            "direct-1",
            "Choose the best item for {user} from these candidates: {candidates}",
            "{target}",
            _ITEM,
        ),
        Template(
            "direct-2",
            "Which of the following items should we recommend to {user}? {candidates}",
            "{target}",
            _ITEM,
        ),
        Template(
            "direct-3", "{user} bought {history}. Pick the next item from {candidates}", "{target}", _ITEM
        ),
        Template(
            "direct-4", "Select one item {user} will like from the list: {candidates}", "{target}", _ITEM
        ),
        Template("direct-5", "Candidates: {candidates}. Recommend one of them to {user}.", "{target}", _ITEM),
        Template(
            "direct-6", "Will {user} like item {candidate}? Answer yes or no.", "{candidate_answer}", "yes_no"
        ),
        Template(
            "direct-7",
            "Should we recommend {candidate} to {user}? yes or no?",
            "{candidate_answer}",
            "yes_no",
        ),
        Template(
            "direct-8",
            "Is {candidate} a good recommendation for {user}, who bought {history}?",
            "{candidate_answer}",
            "yes_no",
        ),
    ),
    seen=("direct-1",),
    heldout=Template(
        "direct-heldout",
        "From the items {candidates}, find the one that {user} would enjoy most.",
        "{target}",
        _ITEM,
    ),
)
