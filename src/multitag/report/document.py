"""A small document model (sections of paragraphs, lists, tables, images) and its two renderings:
Markdown that links the PNGs beside it, and one self-contained HTML file (inline CSS, images as
base64 data URIs, no external reference of any kind)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Table:
    """Cells are plain text; `numeric` columns are right-aligned."""

    header: list[str]
    rows: list[list[str]]
    numeric: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Image:
    """A PNG in the report directory, shown with a caption."""

    filename: str
    alt: str
    caption: str


Block = Paragraph | Bullets | Table | Image


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    sections: list[Section] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Markdown

_MD_SPECIAL = re.compile(r"([\\`*|<>\[\]#])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # a line break would end a table row


def md_escape(text: str) -> str:
    """Text safe inside Markdown prose and table cells (underscores only escaped at the ends,
    where they could open emphasis; GitHub Markdown leaves intraword `_` alone)."""
    escaped = _MD_SPECIAL.sub(r"\\\1", _CONTROL.sub(" ", text))
    return re.sub(r"(^_|_$)", r"\\_", escaped)


def to_markdown(doc: Document) -> str:
    """The document as GitHub-flavoured Markdown."""
    lines = [f"# {md_escape(doc.title)}", ""]
    for section in doc.sections:
        lines += [f"## {md_escape(section.title)}", ""]
        for block in section.blocks:
            lines += [*_md_block(block), ""]
    return "\n".join(lines).rstrip() + "\n"


def _md_block(block: Block) -> list[str]:
    if isinstance(block, Paragraph):
        return [md_escape(block.text)]
    if isinstance(block, Bullets):
        return [f"- {md_escape(item)}" for item in block.items]
    if isinstance(block, Image):
        return [f"![{md_escape(block.alt)}]({block.filename})", "", f"*{md_escape(block.caption)}*"]
    rule = ["---:" if j in block.numeric else "---" for j in range(len(block.header))]
    rows = [block.header, *block.rows]
    return ([_md_row(rows[0]), "| " + " | ".join(rule) + " |"]
            + [_md_row(row) for row in rows[1:]])


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(md_escape(c) for c in cells) + " |"


# ---------------------------------------------------------------------------------------------
# HTML

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 1000px; padding: 1.5em 2em 4em; color: #1d1d1f; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { margin-top: 2em; border-bottom: 1px solid #eee; padding-bottom: .2em; }
table { border-collapse: collapse; font-size: .9em; margin: .5em 0; }
th, td { border: 1px solid #ddd; padding: .25em .7em; }
th { background: #f4f4f6; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
.scroll { max-height: 32em; overflow: auto; display: inline-block; border: 1px solid #eee; }
.scroll table { margin: 0; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; margin-top: .3em; }
li { margin: .2em 0; }
"""
_SCROLL_ROWS = 25  # longer tables scroll inside a box


def to_html(doc: Document, image_dir: Path) -> str:
    """The document as one HTML file; images are read from `image_dir` and embedded."""
    parts = [f"<h1>{html.escape(doc.title)}</h1>"]
    for section in doc.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [_html_block(block, image_dir) for block in section.blocks]
    body = "\n".join(parts)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(doc.title)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _html_block(block: Block, image_dir: Path) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        items = "".join(f"<li>{html.escape(item)}</li>" for item in block.items)
        return f"<ul>{items}</ul>"
    if isinstance(block, Image):
        data = base64.b64encode((image_dir / block.filename).read_bytes()).decode("ascii")
        return (f"<figure><img src=\"data:image/png;base64,{data}\" "
                f"alt=\"{html.escape(block.alt)}\"><figcaption>{html.escape(block.caption)}"
                "</figcaption></figure>")
    return _html_table(block)


def _html_table(table: Table) -> str:
    def cell(tag: str, j: int, text: str) -> str:
        cls = " class=\"num\"" if j in table.numeric else ""
        return f"<{tag}{cls}>{html.escape(text)}</{tag}>"

    head = "".join(cell("th", j, text) for j, text in enumerate(table.header))
    rows = "".join("<tr>" + "".join(cell("td", j, t) for j, t in enumerate(row)) + "</tr>"
                   for row in table.rows)
    markup = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return f"<div class=\"scroll\">{markup}</div>" if len(table.rows) > _SCROLL_ROWS else markup
