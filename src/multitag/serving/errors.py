"""Plain-words messages for request problems that FastAPI reports in its own terms.

Kept apart from serve.py (no FastAPI import here): given the validation errors and the request's
Content-Type, say what is wrong with the request as a whole, or return None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NAME_SHOWN = 40


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
