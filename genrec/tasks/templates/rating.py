"""Rating prediction: user + item (+ title, recent history) → star rating, like/dislike, yes/no.

Fields: user, item, title, history (the user's most recent items), rating, guess (the true rating or
another one), guess_answer ('yes' when guess is the true rating), like ('like' for >= 4 stars).
"""

from genrec.tasks.templates import FamilyTemplates, Template

_STAR = "rating"
TEMPLATES = FamilyTemplates(
    train=(
        Template(
            "rating-1", "What star rating do you think {user} will give item {item}?", "{rating}", _STAR
        ),
        Template(
            "rating-2",
            "How will {user} rate item {item}? Answer with a number from 1 to 5.",
            "{rating}",
            _STAR,
        ),
        Template(
            "rating-3",
            "Predict the score {user} gives to {item} ({title}) on a 1 to 5 scale.",
            "{rating}",
            _STAR,
            ("title",),
        ),
        Template(
            "rating-4",
            "{user} recently bought {history}. How many stars will the user give {item}?",
            "{rating}",
            _STAR,
        ),
        Template(
            "rating-5",
            'Here is the item {item} titled "{title}". What rating would {user} give it?',
            "{rating}",
            _STAR,
            ("title",),
        ),
        Template(
            "rating-6",
            "Will {user} give item {item} a {guess} star rating? Answer yes or no.",
            "{guess_answer}",
            "yes_no",
        ),
        Template(
            "rating-7",
            "Is {guess} stars the rating {user} gives to {item} ({title})? yes or no?",
            "{guess_answer}",
            "yes_no",
            ("title",),
        ),
        Template("rating-8", "Does {user} like or dislike item {item}?", "{like}", "like_dislike"),
        Template(
            "rating-9",
            "After buying {history}, will {user} like or dislike {item} ({title})?",
            "{like}",
            "like_dislike",
            ("title",),
        ),
        Template(
            "rating-10",
            "Guess the star rating of {user} for {item}, given the user bought {history}.",
            "{rating}",
            _STAR,
        ),
    ),
    seen=("rating-1",),
    heldout=Template(
        "rating-heldout",
        "Rate item {item} on behalf of {user}: how many stars out of five would it get?",
        "{rating}",
        _STAR,
    ),
)
