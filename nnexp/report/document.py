"""The report as a list of blocks, rendered both as Markdown (``index.md``) and HTML (``index.html``)."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

BUILD_FILES = ".report_files.json"  # the files the last build of a report wrote


@dataclass
class Block:
    """One element of the report: a heading, a paragraph, a bullet list, a table or a figure."""

    kind: str  # "h1", "h2", "h3", "p", "list", "table", "figure"
    text: str = ""
    items: list[str] = field(default_factory=list)
    table: pd.DataFrame | None = None
    links: dict[str, str] = field(default_factory=dict)  # label -> file, shown under a table


def to_markdown(blocks: list[Block]) -> str:
    """The report as Markdown."""
    lines: list[str] = []
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            lines += ["#" * int(block.kind[1]) + " " + block.text, ""]
        elif block.kind == "p":
            lines += [block.text, ""]
        elif block.kind == "list":
            lines += [f"- {item}" for item in block.items] + [""]
        elif block.kind == "table":
            lines += [block.table.to_markdown(index=False, stralign="right", disable_numparse=True), ""]
            if block.links:
                lines += [" · ".join(f"[{label}]({path})" for label, path in block.links.items()), ""]
        elif block.kind == "figure":
            lines += [f"![{block.text}]({block.links['png']})", ""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    """Markdown's `code` and [label](link) in a paragraph, as HTML; everything else escaped."""
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', escaped)


ENVIRONMENT = jinja2.Environment(autoescape=False)
ENVIRONMENT.filters["inline"] = _inline
TEMPLATE = ENVIRONMENT.from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #446; } h2 { margin-top: 2em; border-bottom: 1px solid #ccd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccd; padding: 0.25em 0.6em; text-align: right; }
th { background: #eef; } tr:nth-child(even) td { background: #f8f8fc; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; } .links { font-size: 0.85em; }
code { background: #f4f4f8; padding: 0 0.2em; }
</style></head><body>
{% for b in blocks %}
{%- if b.kind in ("h1", "h2", "h3") %}<{{ b.kind }}>{{ b.text | e }}</{{ b.kind }}>
{%- elif b.kind == "p" %}<p>{{ b.text | inline }}</p>
{%- elif b.kind == "list" %}<ul>{% for item in b.items %}<li>{{ item | inline }}</li>{% endfor %}</ul>
{%- elif b.kind == "table" %}{{ b.table.rename_axis(columns=None).to_html(index=False, escape=True, border=0) }}
{%- if b.links %}<p class="links">{% for label, path in b.links.items() %}<a href="{{ path | e }}">{{ label | e }}</a>{% if not loop.last %} · {% endif %}{% endfor %}</p>{% endif %}
{%- elif b.kind == "figure" %}<figure><a href="{{ b.links['svg'] | e }}"><img src="{{ b.links['png'] | e }}" alt="{{ b.text | e }}"></a><figcaption>{{ b.text | e }} (<a href="{{ b.links['svg'] | e }}">SVG</a>)</figcaption></figure>
{%- endif %}
{% endfor %}
</body></html>
"""
)


def to_html(blocks: list[Block], title: str) -> str:
    """The report as one HTML page; figures and files are referenced beside it (opens from disk)."""
    return TEMPLATE.render(blocks=blocks, title=title)


def write_documents(blocks: list[Block], out_dir: Path, title: str, started: float, name: str = "index") -> Path:
    """Write ``<name>.md`` and ``<name>.html`` into ``out_dir``, the last files of a build that ``started`` (epoch
    seconds), and remove what an earlier build wrote there and this one did not; return the Markdown path."""
    (out_dir / f"{name}.html").write_text(to_html(blocks, title))
    index = out_dir / f"{name}.md"
    index.write_text(to_markdown(blocks))
    _forget_earlier_build(out_dir, started)
    return index


def _forget_earlier_build(out_dir: Path, started: float) -> None:
    """Delete the files the last build listed in ``BUILD_FILES`` and this one did not rewrite; list this one's.

    Only files a report wrote are ever deleted: a folder shared with other files keeps them.
    """
    manifest = out_dir / BUILD_FILES
    try:
        earlier = json.loads(manifest.read_text())
    except (OSError, ValueError):
        earlier = []
    written = sorted(
        p.name for p in out_dir.iterdir() if p.is_file() and p.name != BUILD_FILES and p.stat().st_mtime >= started
    )
    for name in set(earlier if isinstance(earlier, list) else []) - set(written):
        if isinstance(name, str) and "/" not in name:
            (out_dir / name).unlink(missing_ok=True)
    manifest.write_text(json.dumps(written, indent=1) + "\n")
