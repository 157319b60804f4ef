"""Item-text recipes: what text about each item an encoder embeds. A recipe maps a dataset to one
text per item: its metadata fields (`metadata_texts`), or what users wrote about it in the training
split (`review_texts`, for review files that come without metadata)."""

from __future__ import annotations

import logging
from typing import Sequence

import gin

from genrec.datasets import records


@gin.configurable
def item_texts(
    items: records.ItemTable,
    fields: Sequence[str] = ("title", "brand", "categories"),
    field_template: str = "{name}: {value}",
    separator: str = "; ",
) -> list[str]:
    """One text per item: the non-empty `fields`, each as `field_template`, joined by `separator`.

    Category paths written with '|' read as comma lists. An item left with no text is an error.
    """
    unknown = set(fields) - set(records.ITEM_TEXT_FIELDS)
    if unknown:
        raise ValueError(f"item_texts: unknown fields {sorted(unknown)}; known: {records.ITEM_TEXT_FIELDS}")
    columns = [(f, items.field(f)) for f in fields]
    texts = []
    for i in range(items.num_items):
        parts = [
            field_template.format(name=f, value=" ".join(v[i].replace("|", ", ").split()))
            for f, v in columns
            if v[i].strip()
        ]
        if not parts:
            raise ValueError(
                f"item {i} (source id {items.source_ids[i]!r}) has no text in fields "
                f"{list(fields)}; choose other fields with item_texts.fields"
            )
        texts.append(separator.join(parts))
    return texts


@gin.configurable
def metadata_texts(dataset: records.RecDataset) -> list[str]:
    """The item table's text fields, as `item_texts` (gin: item_texts.fields ...) renders them."""
    return item_texts(dataset.items)


REVIEW_FIELDS = ("summaries", "reviews")


@gin.configurable
def review_texts(
    dataset: records.RecDataset,
    field: str = "summaries",
    max_per_item: int = 20,
    separator: str = ". ",
    no_reviews: str = "no reviews",
) -> list[str]:
    """One text per item: the first `max_per_item` review `field`s ('summaries' or 'reviews') its
    users wrote in the training split, oldest first. Only the training split is read: each user's
    last two interactions (the validation and test targets) never shape an identifier. An item with
    no training review gets the text `no_reviews` (all such items share it; the count is logged)."""
    if field not in REVIEW_FIELDS:
        raise ValueError(f"review_texts.field: {field!r} is not one of {REVIEW_FIELDS}")
    if not dataset.users or getattr(dataset.users[0], field) is None:
        raise ValueError(
            f"review_texts: dataset {dataset.name!r} has no review {field}; it needs a "
            "raw review file (e.g. amazon-2014-musical-instruments). Use "
            "item_embeddings.recipe = @metadata_texts for item metadata"
        )
    written: list[list[tuple[int, str]]] = [[] for _ in range(dataset.num_items)]
    for user in dataset.split("train"):
        for item, when, words in zip(user.items, user.timestamps, getattr(user, field)):
            words = " ".join(words.split())
            if words:
                written[item].append((int(when), words))
    texts = [
        separator.join(w for _, w in sorted(pairs, key=lambda p: p[0])[:max_per_item]) or no_reviews
        for pairs in written
    ]
    silent = sum(not pairs for pairs in written)
    if silent:
        logging.warning(
            "review_texts: %d of %d items have no training-split review %s; they share the text %r",
            silent,
            dataset.num_items,
            field,
            no_reviews,
        )
    return texts
