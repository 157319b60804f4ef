"""Review tasks: a user's review text → its summary, or → its star rating.

Fields: user, review (the review text), summary, rating.
"""

from genrec.tasks.templates import FamilyTemplates, Template

TEMPLATES = FamilyTemplates(
    train=(
        Template(
            "review-1",
            "Write a short summary of this review by {user}: {review}",
            "{summary}",
            "text",
            ("summary",),
        ),
        Template(
            "review-2",
            "Predict the star rating (1 to 5) of this review by {user}: {review}",
            "{rating}",
            "rating",
            ("rating",),
        ),
        Template("review-3", "Give a title for the review: {review}", "{summary}", "text", ("summary",)),
        Template(
            "review-4",
            '{user} wrote: "{review}" How many stars did the user give?',
            "{rating}",
            "rating",
            ("rating",),
        ),
        Template(
            "review-5",
            "Summarize in a few words what {user} says: {review}",
            "{summary}",
            "text",
            ("summary",),
        ),
    ),
    seen=("review-1", "review-2"),
    heldout=Template(
        "review-heldout",
        "Read the review below from {user} and tell how many stars it gives. {review}",
        "{rating}",
        "rating",
        ("rating",),
    ),
)
