"""Plain-words messages for request problems that FastAPI reports in its own terms.

Kept apart from serve.py (no FastAPI import here): given the validation errors and the request's
Content-Type, say what is wrong with the request as a whole, or return None; and the 422 answer
for items that lack some of the model's features (`missing_features`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

NAME_SHOWN = 40
NAMES_LISTED = 50  # feature names in ctx["missing"] of a 422 and in a prediction's `imputed`
ITEMS_REPORTED = 10  # items with their own error entry; the rest are counted in one more


@dataclass(frozen=True)
class Rejected:
    """A request refused with 422: `detail` in the service's validation-error shape."""

    detail: list[dict[str, Any]]


def missing_features(missing: Sequence[tuple[int | None, list[str]]], n_features: int,
                     remedy: str) -> Rejected:
    """The 422 for items lacking features: (position in `items`, or None for a single-item
    body; the absent names) each.

    One entry per item (the first ITEMS_REPORTED), naming the first few absent features and
    how many; `ctx` holds the first NAMES_LISTED names and the count."""
    detail = []
    for position, names in missing[:ITEMS_REPORTED]:
        single = position is None
        loc = ["body", "features"] if single else ["body", "items", position, "features"]
        where = "the item" if single else f"item {position}"
        detail.append({
            "loc": loc, "type": "missing_features",
            "msg": (f"{where} lacks {len(names)} of the model's {n_features} features: "
                    f"{shown_names(names)}; {remedy}"),
            "ctx": {"missing": names[:NAMES_LISTED], "n_missing": len(names)},
        })
    if len(missing) > ITEMS_REPORTED:
        more = len(missing) - ITEMS_REPORTED
        detail.append({"loc": ["body", "items"], "type": "missing_features",
                       "msg": f"{more} more item(s) lack features too",
                       "ctx": {"n_items": len(missing)}})
    return Rejected(detail)


def body_problem(errors: Sequence[dict[str, Any]],
                 content_type: str | None) -> tuple[int, str] | None:
    """(status, message) when the body is empty or not sent as JSON; None otherwise."""
    at_body = [tuple(e.get("loc", ())) for e in errors] == [("body",)]
    if at_body and errors[0].get("type") == "missing":
        return 400, ("the body is empty; expected a JSON object: one item, or "
                     '{"items": [...]} for a batch')
    if at_body and not is_json_type(content_type):
        return 422, (f"the Content-Type must be application/json; got "
                     f"{(content_type or 'none')[:NAME_SHOWN]!r}")
    return None


def is_json_type(content_type: str | None) -> bool:
    """application/json or application/*+json, parameters ignored (FastAPI's rule)."""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/")
                                          and kind.endswith("+json"))


def shown_names(names: Sequence[str], most: int = 5) -> str:
    """Names for a message, each cut to NAME_SHOWN characters (a client may send huge keys)."""
    cut = [n if len(n) <= NAME_SHOWN else n[:NAME_SHOWN] + "..." for n in names[:most]]
    more = f" (+{len(names) - most} more)" if len(names) > most else ""
    return ", ".join(map(repr, cut)) + more
