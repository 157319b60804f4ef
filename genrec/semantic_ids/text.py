"""Item-text recipes: which item fields, in what template, become the text an encoder embeds."""
from __future__ import annotations

from typing import Sequence

import gin

from genrec.datasets import records


@gin.configurable
def item_texts(items: records.ItemTable,
               fields: Sequence[str] = ("title", "brand", "categories"),
               field_template: str = "{name}: {value}",
               separator: str = "; ") -> list[str]:
    """One text per item: the non-empty `fields`, each as `field_template`, joined by `separator`.

    Category paths written with '|' read as comma lists. An item left with no text is an error.
    """
    unknown = set(fields) - set(records.ITEM_TEXT_FIELDS)
    if unknown:
        raise ValueError(f"item_texts: unknown fields {sorted(unknown)}; "
                         f"known: {records.ITEM_TEXT_FIELDS}")
    columns = [(f, items.field(f)) for f in fields]
    texts = []
    for i in range(items.num_items):
        parts = [field_template.format(name=f, value=" ".join(v[i].replace("|", ", ").split()))
                 for f, v in columns if v[i].strip()]
        if not parts:
            raise ValueError(f"item {i} (source id {items.source_ids[i]!r}) has no text in fields "
                             f"{list(fields)}; choose other fields with item_texts.fields")
        texts.append(separator.join(parts))
    return texts
