"""A report as blocks, rendered twice: Markdown (report.md) and one self-contained
HTML page (report.html) that opens from disk, fetches nothing, and plays and shows
what the samples hold.

Text uses a small inline markup, the same in both renderings: ```code```,
``[words](link)`` and ``**bold**``. A samples block lists generated samples by the
files they have; the HTML page gives each file its player by suffix: ``.wav`` an
audio player, ``.svg`` and ``.png`` an image (sheet music, piano roll, spectrogram),
anything else a link.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from noizenet.plugin.interfaces import Sample

INLINE = re.compile(r"`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)|\*\*([^*]+)\*\*")
SHOWN = (".svg", ".png")  # sample files shown as images, in this order
PLAYED = (".wav",)
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
img { max-width: 100%; }
section.sample { border-top: 1px solid #ccc; padding: 0.8em 0; }
section.sample img { display: block; margin: 0.4em 0; background: white; }
.missing { color: #a33; }
.facts { color: #555; font-size: 90%; }
"""


@dataclass
class Block:
    """``kind``: ``heading`` (``text``, ``level``), ``text``, ``table`` (``header``,
    ``rows``), ``image`` (``text`` = title, ``link`` = file), or ``samples`` (``rows``
    = samples.json rows, ``link`` = their folder relative to the page)."""

    kind: str
    text: str = ""
    level: int = 2
    header: list[str] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)
    link: str = ""


def facts_of(row: dict[str, Any]) -> str:
    """A sample's per-sample facts in words (the keys beyond ``Sample.ROW_KEYS``)."""
    return ", ".join(f"{k}: {v}" for k, v in row.items() if k not in Sample.ROW_KEYS and v is not None)


# -- Markdown -------------------------------------------------------------------------
def to_markdown(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if block.kind == "heading":
            lines += ["#" * block.level + " " + block.text, ""]
        elif block.kind == "text":
            lines += [block.text, ""]
        elif block.kind == "table":
            lines += _md_table(block.header, block.rows)
        elif block.kind == "image":
            lines += [f"![{block.text}]({block.link})", ""]
        elif block.kind == "samples":
            rows = [[s["name"], s["prime"], f"{s['temperature']:g}",
                     " ".join(f"[{f.rsplit('.', 1)[-1]}]({block.link}/{f})" for f in s.get("files", [])), facts_of(s)]
                    for s in block.rows]
            lines += _md_table(["sample", "prime", "temperature", "files", "facts"], rows)
    return "\n".join(lines)


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |" for row in rows]
    return lines + [""]


# -- HTML -----------------------------------------------------------------------------
def to_html(title: str, blocks: Sequence[Block]) -> str:
    """The page; under each sample, its facts named ``*_error`` that hold a reason
    (a rendering that failed for it: no MIDI, no sheet music) stand out."""
    body: list[str] = []
    for block in blocks:
        if block.kind == "heading":
            body.append(f"<h{block.level}>{inline(block.text)}</h{block.level}>")
        elif block.kind == "text":
            body.append(f"<p>{inline(block.text)}</p>")
        elif block.kind == "table":
            head = "".join(f"<th>{inline(h)}</th>" for h in block.header)
            rows = "".join("<tr>" + "".join(f"<td>{inline(str(c))}</td>" for c in row) + "</tr>" for row in block.rows)
            body.append(f"<table><tr>{head}</tr>{rows}</table>")
        elif block.kind == "image":
            body.append(f'<figure><img src="{_attr(block.link)}" alt="{_attr(block.text)}"></figure>')
        elif block.kind == "samples":
            body += [sample_html(row, block.link) for row in block.rows]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


def sample_html(row: dict[str, Any], folder: str) -> str:
    """One sample as a section: its players and images by suffix, files linked
    under ``folder`` (a path or URL prefix), reasons for what is missing, facts."""
    files = row.get("files", [])
    parts = [f'<section class="sample" id="{_attr(row["name"])}"><h3>{html.escape(row["name"])}</h3>',
             f"<p>prime <b>{html.escape(str(row['prime']))}</b>, temperature <b>{row['temperature']:g}</b></p>"]
    for suffix in (*PLAYED, *SHOWN):
        for name in (f for f in files if f.endswith(suffix)):
            source = _attr(f"{folder}/{name}")
            if suffix in PLAYED:
                parts.append(f'<audio controls preload="metadata" src="{source}"></audio>')
            else:
                parts.append(f'<img src="{source}" alt="{_attr(name)}">')
    parts += [f'<p class="missing">{html.escape(key.replace("_", " "))}: {html.escape(str(value))}</p>'
              for key, value in row.items() if key.endswith("_error") and value]
    links = " ".join(f'<a href="{_attr(folder + "/" + f)}">{html.escape(f)}</a>' for f in files)
    parts += [f"<p>files: {links}</p>", f'<p class="facts">{html.escape(facts_of(row))}</p>', "</section>"]
    return "\n".join(parts)


def inline(text: str) -> str:
    """The inline markup of ``text`` as HTML, everything else escaped."""
    out, last = [], 0
    for match in INLINE.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        code, words, link, bold = match.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif words is not None:
            out.append(f'<a href="{_attr(link)}">{inline(words)}</a>')
        else:
            out.append(f"<b>{html.escape(bold)}</b>")
        last = match.end()
    return "".join(out) + html.escape(text[last:])


def _attr(value: str) -> str:
    return html.escape(value, quote=True)
