"""Explanation generation: user + item (+ the rating, the title) → a sentence of the user's own
review that explains the choice.

Fields: user, item, title, rating, feature (a content word of the explanation), explanation. The
feature word comes from the target sentence, so it is target-only: one template asks for it, none
shows it (P5's no-hint setting, the same for seen and held-out prompts).
"""

from genrec.tasks.templates import FamilyTemplates, Template

_TEXT = "text"
TEMPLATES = FamilyTemplates(
    train=(
        Template(
            "explanation-1", "Generate an explanation for {user} about item {item}.", "{explanation}", _TEXT
        ),
        Template(
            "explanation-2", "Help {user} write an explanation for buying {item}.", "{explanation}", _TEXT
        ),
        Template(
            "explanation-3", "Explain why {user} bought {item} ({title}).", "{explanation}", _TEXT, ("title",)
        ),
        Template(
            "explanation-4",
            "Write an explanation for {user} about {item}, in the user's own words.",
            "{explanation}",
            _TEXT,
        ),
        Template(
            "explanation-5",
            "Explain what {user} thinks of {item} ({title}).",
            "{explanation}",
            _TEXT,
            ("title",),
        ),
        Template(
            "explanation-6",
            "{user} gave {item} {rating} stars. Explain the rating.",
            "{explanation}",
            _TEXT,
            ("rating",),
        ),
        Template(
            "explanation-7",
            "{user} rated {item} ({title}) {rating} out of 5. Why?",
            "{explanation}",
            _TEXT,
            ("title", "rating"),
        ),
        Template(
            "explanation-8",
            "Give a {rating} star explanation of {item} for {user}.",
            "{explanation}",
            _TEXT,
            ("rating",),
        ),
        Template("explanation-9", "What would {user} say about item {item}?", "{explanation}", _TEXT),
        Template(
            "explanation-10",
            "Describe the experience of {user} with {item} ({title}).",
            "{explanation}",
            _TEXT,
            ("title",),
        ),
        Template("explanation-11", "Which feature of {item} does {user} comment on?", "{feature}", _TEXT),
        Template("explanation-12", "Write one sentence about {item} for {user}.", "{explanation}", _TEXT),
    ),
    seen=("explanation-1",),
    heldout=Template(
        "explanation-heldout",
        "Tell us in one sentence how {user} feels about item {item}.",
        "{explanation}",
        _TEXT,
    ),
    target_only=("explanation", "feature"),
)
