"""Label names as a figure shows them: without a prefix every label shares ("TAG_"), wrapped
onto a few short lines at natural breaks (space, `_`, `-`, `/`, `.`, camelCase), and, when a
name still does not fit, cut with a code ("Class-3-78… [17]") that the report's label key next
to the figure spells out. The code is the label's column number (1-based) in the model's label
order, so it is the same in every figure and in the per-label table's `#` column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_BREAK = re.compile(r"(?<=[\s_\-/.|:,;+])|(?<=[a-z])(?=[A-Z])")
_PREFIX_END = re.compile(r"[\s_\-/.|:]")
ELLIPSIS = "…"


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` characters, broken after separators and between
    camelCase words where possible; a longer word is cut."""
    lines = [""]
    for token in (t for t in _BREAK.split(text) if t):
        if len(lines[-1]) + len(token.rstrip()) > width and lines[-1] and len(token) <= width:
            lines.append("")
        while len(lines[-1]) + len(token.rstrip()) > width:  # a word longer than a line
            room = width - len(lines[-1])
            lines[-1], token = lines[-1] + token[:room], token[room:]
            lines.append("")
        lines[-1] += token
    return [line.strip() for line in lines if line.strip()] or [""]


class LabelNames:
    """How the figures of one report show label names (see the module docstring)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = [str(n) for n in names]
        self.number = {name: j + 1 for j, name in enumerate(self.names)}
        self.prefix = common_prefix(self.names)

    def show(self, name: str, width: int, lines: int) -> tuple[str, tuple[str, str] | None]:
        """`name` in at most `lines` lines of `width` characters, and its key entry (code,
        full name) when it had to be cut (None when shown whole)."""
        shown = name[len(self.prefix):] if name.startswith(self.prefix) else name
        wrapped = wrap(shown, width)
        if len(wrapped) <= lines:
            return "\n".join(wrapped), None
        code = f"[{self.number.get(name, 0)}]"
        kept = wrapped[:lines]
        room = max(1, width - len(code) - 2)
        kept[-1] = kept[-1][:room].rstrip() + ELLIPSIS + " " + code
        return "\n".join(kept), (code, name)

    def show_all(self, names: Sequence[str], width: int,
                 lines: int) -> tuple[list[str], tuple[tuple[str, str], ...]]:
        """Every name of `names` shown, and the key entries of those that were cut (in
        column order)."""
        texts, key = [], []
        for name in names:
            text, entry = self.show(name, width, lines)
            texts.append(text)
            if entry is not None:
                key.append(entry)
        return texts, tuple(sorted(key, key=lambda entry: self.number.get(entry[1], 0)))

    def note(self) -> str:
        """Caption text about the prefix (empty when none is left out)."""
        return (f"; label names are shown without the prefix '{self.prefix}' they all share"
                if self.prefix else "")


def common_prefix(names: Sequence[str]) -> str:
    """The prefix every name shares, up to and including its last separator ("TAG_",
    "Class-"), or "" when there is none or leaving it out would empty a name."""
    if len(names) < 2:
        return ""
    first, last = min(names), max(names)  # the prefix of these two is everyone's
    shared = first[:next((i for i, (a, b) in enumerate(zip(first, last)) if a != b),
                         min(len(first), len(last)))]
    ends = [m.end() for m in _PREFIX_END.finditer(shared)]
    prefix = shared[:ends[-1]] if ends else ""
    if sum(c.isalnum() for c in prefix) < 2 or any(len(n) <= len(prefix) for n in names):
        return ""
    return prefix
