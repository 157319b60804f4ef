"""Sequential recommendation: a user's history → the next item, plus yes/no forms.

Fields: user, history (identifiers of the most recent items, oldest first), recent_titles (titles of
the last few items), target, candidate (the target or a sampled item the user never had),
candidate_answer ('yes' when candidate is the target) and user_token (the user's hashed token `<u_K>`,
empty unless enabled).
"""

from genrec.tasks.templates import FamilyTemplates, Template

_ITEM = "item"
TEMPLATES = FamilyTemplates(
    train=(
        Template(
            "sequential-1",
            "Given the purchase history of {user}: {history}. What is the next item?",
            "{target}",
            _ITEM,
        ),
        Template(
            "sequential-2",
            "{user} has bought {history} in this order. Predict the next purchase.",
            "{target}",
            _ITEM,
        ),
        Template(
            "sequential-3",
            "Here is what {user} interacted with: {history}. Recommend the next item.",
            "{target}",
            _ITEM,
        ),
        Template("sequential-4", "Which item will {user} buy after {history}?", "{target}", _ITEM),
        Template("sequential-5", "History: {history}. Next item for {user}:", "{target}", _ITEM),
        Template(
            "sequential-6",
            "{user} recently bought {recent_titles}. Full history: {history}. What should we recommend next?",
            "{target}",
            _ITEM,
            ("title",),
        ),
        Template(
            "sequential-7",
            "The last items {user} bought were {recent_titles}. Given the history "
            "{history}, which item comes next?",
            "{target}",
            _ITEM,
            ("title",),
        ),
        Template(
            "sequential-8",
            "Recommend one item to {user}, whose past purchases are {history}.",
            "{target}",
            _ITEM,
        ),
        Template("sequential-9", "Continue the shopping sequence of {user}: {history}", "{target}", _ITEM),
        Template(
            "sequential-10",
            "{user} bought {history}. Will the user buy {candidate} next? Answer yes or no.",
            "{candidate_answer}",
            "yes_no",
        ),
        Template(
            "sequential-11",
            "Based on the history {history} of {user}, is {candidate} a good next item? yes or no?",
            "{candidate_answer}",
            "yes_no",
        ),
        Template(
            "sequential-12",
            "{user} last bought {recent_titles}. Should we recommend {candidate} "
            "next, given the history {history}?",
            "{candidate_answer}",
            "yes_no",
            ("title",),
        ),
        Template(
            "sequential-13",
            "Predict the item that {user} will interact with after the sequence {history}.",
            "{target}",
            _ITEM,
        ),
    ),
    seen=("sequential-1",),
    heldout=Template(
        "sequential-heldout",
        "Knowing that {user} purchased {history}, name the item this user is most likely to purchase next.",
        "{target}",
        _ITEM,
    ),
)

# TIGER's task (Rajput et al., NeurIPS 2023; genrec_<dataset>_tiger_sequential): identifier tokens only,
# no prose: the optional hashed user token, then the history's identifiers → the next item's.
TIGER = Template("tiger", "{user_token}{history}", "{target}", _ITEM)
