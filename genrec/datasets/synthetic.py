"""A deterministic synthetic catalogue and users that behave like Amazon review data.

Latent taxonomy: top categories → subcategories; brands belong to a top category. Each item has a
subcategory, a brand, a popularity rank inside its subcategory and a "follow-up" item (a refill, the
next volume) that users who bought it often buy next. Users hold a favourite top category that drifts
over time; each step stays in the current subcategory, moves to its complementary subcategory, buys
the follow-up, or jumps. Ratings follow how well the item fits the user's taste; reviews and
summaries are short texts that mention the item's noun and agree with the rating.

Everything is vectorised over users, so 1M items / 2M users take a minute, not an hour.
"""

from __future__ import annotations

import numpy as np

from genrec.datasets import prepare, records

_TOPS = ("Makeup", "Skin Care", "Hair Care", "Fragrance", "Bath", "Nails", "Tools", "Men")
_NOUNS = (
    "lipstick",
    "mascara",
    "serum",
    "cleanser",
    "shampoo",
    "conditioner",
    "perfume",
    "soap",
    "lotion",
    "polish",
    "brush",
    "razor",
    "primer",
    "toner",
    "mask",
    "oil",
    "balm",
    "gel",
    "cream",
    "spray",
    "scrub",
    "powder",
    "liner",
    "clipper",
)
_ADJECTIVES = (
    "Gentle",
    "Radiant",
    "Matte",
    "Hydrating",
    "Classic",
    "Ultra",
    "Pure",
    "Velvet",
    "Fresh",
    "Daily",
    "Silk",
    "Bold",
    "Natural",
    "Deep",
    "Soft",
    "Bright",
)
_BRAND_SYLLABLES = ("lu", "ve", "ra", "no", "mi", "ka", "zo", "te", "sa", "bel", "or", "qui")
_PRAISE = ("love", "really like", "am happy with", "recommend")
_COMPLAINT = ("dislike", "am disappointed by", "returned", "regret buying")
_ASPECTS = ("scent", "texture", "packaging", "price", "color", "finish", "size")
_GOOD = ("great", "lovely", "perfect", "excellent", "nice")
_BAD = ("poor", "cheap", "odd", "weak", "too strong")


def _brand_names(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct names of 2..max_k syllables; max_k grows with n so that at most half the names
    are taken (else the rejection loop would never end: 3 syllables give only 1,872 names)."""
    max_k = 3
    while sum(len(_BRAND_SYLLABLES) ** k for k in range(2, max_k + 1)) < 2 * n:
        max_k += 1
    names = set()
    while len(names) < n:
        k = rng.integers(2, max_k + 1)
        names.add("".join(rng.choice(_BRAND_SYLLABLES, k)).capitalize())
    return sorted(names)


def generate(
    num_items: int = 1000,
    num_users: int | None = None,
    seed: int = 0,
    mean_length: float = 9.0,
    name: str = "synthetic",
) -> records.RecDataset:
    """A synthetic dataset; the same arguments always give the same dataset."""
    raw, items = generate_raw(num_items, num_users, seed, mean_length)
    return prepare.build_dataset(name, raw, items)


def generate_raw(
    num_items: int = 1000, num_users: int | None = None, seed: int = 0, mean_length: float = 9.0
) -> tuple[prepare.RawInteractions, prepare.RawItems]:
    if num_items < 20:
        raise ValueError(f"num_items={num_items}: the synthetic generator needs at least 20 items")
    rng = np.random.default_rng(seed)
    num_users = num_users or 2 * num_items
    num_subs_per_top = max(2, min(12, num_items // 200 + 2))
    num_subs = len(_TOPS) * num_subs_per_top
    sub_top = np.repeat(np.arange(len(_TOPS)), num_subs_per_top)
    sub_noun = rng.integers(0, len(_NOUNS), num_subs)
    sub_complement = rng.permutation(num_subs)  # the subcategory people shop next
    brands = _brand_names(rng, max(8, num_items // 25))
    brand_top = rng.integers(0, len(_TOPS), len(brands))

    # Items, grouped by subcategory with popularity rank = position in the group.
    item_sub = np.sort(rng.integers(0, num_subs, num_items))
    sub_start = np.searchsorted(item_sub, np.arange(num_subs))
    sub_size = np.bincount(item_sub, minlength=num_subs)
    item_brand = (
        np.array(
            [
                rng.choice(
                    np.flatnonzero(brand_top == sub_top[s])
                    if (brand_top == sub_top[s]).any()
                    else len(brands)
                )
                for s in item_sub
            ]
        )
        if num_items <= 20000
        else rng.integers(0, len(brands), num_items)
    )
    item_adj = rng.integers(0, len(_ADJECTIVES), num_items)
    follow_up = np.where(
        rng.random(num_items) < 0.7,
        sub_start[item_sub] + rng.integers(0, np.maximum(sub_size[item_sub], 1)),
        rng.integers(0, num_items, num_items),
    )
    source_ids = np.array([f"S{x:09X}" for x in rng.choice(16**9, num_items, replace=False)])
    items: prepare.RawItems = {}
    for i in range(num_items):
        s, b = item_sub[i], item_brand[i]
        noun = _NOUNS[sub_noun[s]]
        items[source_ids[i]] = {
            "title": f"{brands[b]} {_ADJECTIVES[item_adj[i]]} {noun.capitalize()} No. {i % 97 + 1}",
            "brand": brands[b],
            "categories": f"{_TOPS[sub_top[s]]}|{_TOPS[sub_top[s]]} {noun.capitalize()}s",
            "description": f"A {_ADJECTIVES[item_adj[i]].lower()} {noun} by {brands[b]}.",
            "price": f"{5 + (i * 7919) % 60}.99",
        }

    def popular_in(subs: np.ndarray) -> np.ndarray:
        size = np.maximum(sub_size[subs], 1)
        rank = np.minimum((size * rng.random(len(subs)) ** 3).astype(np.int64), size - 1)
        return np.minimum(sub_start[subs] + rank, num_items - 1)

    lengths = records.MIN_INTERACTIONS + rng.geometric(1.0 / max(1.0, mean_length - 2), num_users) - 1
    lengths = np.minimum(lengths, 200)
    fav_top = rng.integers(0, len(_TOPS), num_users)
    cur_sub = fav_top * num_subs_per_top + rng.integers(0, num_subs_per_top, num_users)
    cur_item = popular_in(cur_sub)
    time = rng.integers(1_325_376_000, 1_388_534_400, num_users) // 86400 * 86400
    users_out, items_out, times_out, ratings_out, fit_out = [], [], [], [], []
    for t in range(int(lengths.max())):
        active = np.flatnonzero(lengths > t)
        if t > 0:
            move = rng.random(len(active))
            drift = rng.random(len(active)) < 0.05
            fav_top[active[drift]] = rng.integers(0, len(_TOPS), int(drift.sum()))
            jump_sub = fav_top[active] * num_subs_per_top + rng.integers(0, num_subs_per_top, len(active))
            sub = np.where(
                move < 0.45, cur_sub[active], np.where(move < 0.7, sub_complement[cur_sub[active]], jump_sub)
            )
            nxt = popular_in(sub)
            follow = move >= 0.9
            nxt[follow] = follow_up[cur_item[active[follow]]]
            cur_item[active] = nxt
            cur_sub[active] = item_sub[nxt]
            time[active] += rng.integers(0, 45, len(active)) * 86400
        fit = sub_top[cur_sub[active]] == fav_top[active]
        rating = np.clip(np.round(3.2 + 1.3 * fit + rng.normal(0, 0.8, len(active))), 1, 5)
        users_out.append(active)
        items_out.append(cur_item[active].copy())
        times_out.append(time[active].copy())
        ratings_out.append(rating)
        fit_out.append(fit)

    user_col = np.concatenate(users_out)
    item_col = np.concatenate(items_out)
    rating_col = np.concatenate(ratings_out)
    reviews, summaries = _review_texts(
        rng.integers(0, 1 << 30, (len(item_col), 3)), sub_noun[item_sub[item_col]], rating_col >= 4
    )
    user_names = np.array([f"U{u:08d}" for u in range(num_users)])
    raw = prepare.RawInteractions(  # numpy columns: build_dataset reads them without copies
        users=user_names[user_col],
        items=source_ids[item_col],
        timestamps=np.concatenate(times_out),
        ratings=rating_col.astype(np.float64),
        reviews=reviews,
        summaries=summaries,
        source=f"synthetic(num_items={num_items}, seed={seed})",
    )
    return raw, items


def _review_texts(words: np.ndarray, nouns: np.ndarray, good: np.ndarray):
    """Review and summary per interaction, from tables of every possible text: millions of
    interactions share a few thousand string objects (fast, and little memory)."""
    w0, w1, w2 = (words[:, j] for j in range(3))
    verbs, qualities = (_COMPLAINT, _PRAISE), (_BAD, _GOOD)
    review_table = np.array(
        [
            f"I {verbs[g][v]} this {noun}. The {aspect} is {qualities[g][q]}."
            for g in range(2)
            for v in range(4)
            for noun in _NOUNS
            for aspect in _ASPECTS
            for q in range(5)
        ],
        dtype=object,
    )
    summary_table = np.array(
        [
            f"{qualities[g][q].capitalize()} {aspect}"
            for g in range(2)
            for aspect in _ASPECTS
            for q in range(5)
        ],
        dtype=object,
    )
    g, a, q = good.astype(np.int64), w1 % len(_ASPECTS), w2 % 5
    review = (((g * 4 + w0 % 4) * len(_NOUNS) + nouns) * len(_ASPECTS) + a) * 5 + q
    summary = (g * len(_ASPECTS) + a) * 5 + q
    return review_table[review].tolist(), summary_table[summary].tolist()
