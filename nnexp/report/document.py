"""The report as a list of blocks, rendered both as Markdown (``index.md``) and HTML (``index.html``)."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from nnexp.report.escape import file_url, is_file_url, markdown_link, markdown_table, markdown_text

BUILD_FILES = ".report_files.json"  # the files the last build of a report wrote


@dataclass
class Block:
    """One element of the report: a heading, a paragraph, a bullet list, a table or a figure."""

    kind: str  # "h1", "h2", "h3", "p", "list", "table", "figure"
    text: str = ""  # plain text (a heading, a figure's caption) or, in a paragraph, Markdown (see escape.py)
    items: list[str] = field(default_factory=list)  # Markdown
    table: pd.DataFrame | None = None  # plain text cells
    links: dict[str, str] = field(default_factory=dict)  # label -> the report's own file, shown under a table


def to_markdown(blocks: list[Block]) -> str:
    """The report as Markdown."""
    lines: list[str] = []
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            lines += ["#" * int(block.kind[1]) + " " + markdown_text(block.text), ""]
        elif block.kind == "p":
            lines += [block.text, ""]
        elif block.kind == "list":
            lines += [f"- {item}" for item in block.items] + [""]
        elif block.kind == "table":
            lines += [markdown_table(block.table).to_markdown(index=False, stralign="right", disable_numparse=True), ""]
            if block.links:
                lines += [" · ".join(markdown_link(label, path) for label, path in block.links.items()), ""]
        elif block.kind == "figure":
            lines += [f"!{markdown_link(block.text, block.links['png'])}", ""]
    return "\n".join(lines)


# The Markdown of a paragraph, as escape.py writes it: a backslash escape, a code span, strong text, or a link
INLINE_MARKDOWN = re.compile(
    r"\\(?P<escaped>[!-/:-@\[-`{-~])"
    r"|(?P<fence>`+)(?!`)(?P<code>.+?)(?<!`)(?P=fence)(?!`)"
    r"|\*\*(?P<strong>(?:\\.|[^\\*])+)\*\*"
    r"|\[(?P<label>(?:\\.|[^\\\]])*)\]\((?P<url>[^()\s]*)\)"
)


def _inline(text: str) -> Markup:
    """A paragraph's Markdown as HTML: escapes, `code`, **strong** and [label](link) to one of the report's own
    files; everything else is text (HTML-escaped)."""
    parts, end = [], 0
    for match in INLINE_MARKDOWN.finditer(text):
        parts.append(escape(text[end : match.start()]))
        end = match.end()
        if match["escaped"]:
            parts.append(escape(match["escaped"]))
        elif match["fence"]:
            code = match["code"]
            code = code[1:-1] if code.strip(" ") and code[0] == code[-1] == " " else code  # CommonMark's padding
            parts.append(Markup("<code>{}</code>").format(code))
        elif match["strong"]:
            parts.append(Markup("<strong>{}</strong>").format(_inline(match["strong"])))
        elif is_file_url(match["url"]):
            parts.append(Markup('<a href="{}">{}</a>').format(match["url"], _inline(match["label"])))
        else:
            parts.append(escape(match[0]))
    parts.append(escape(text[end:]))
    return Markup("").join(parts)


ENVIRONMENT = jinja2.Environment(autoescape=True)
ENVIRONMENT.filters["inline"] = _inline
ENVIRONMENT.filters["file_url"] = file_url
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
{%- if b.kind in ("h1", "h2", "h3") %}<{{ b.kind }}>{{ b.text }}</{{ b.kind }}>
{%- elif b.kind == "p" %}<p>{{ b.text | inline }}</p>
{%- elif b.kind == "list" %}<ul>{% for item in b.items %}<li>{{ item | inline }}</li>{% endfor %}</ul>
{%- elif b.kind == "table" %}{{ b.table.rename_axis(columns=None).to_html(index=False, escape=True, border=0) | safe }}
{%- if b.links %}<p class="links">{% for label, path in b.links.items() %}<a href="{{ path | file_url }}">{{ label }}</a>{% if not loop.last %} · {% endif %}{% endfor %}</p>{% endif %}
{%- elif b.kind == "figure" %}<figure><a href="{{ b.links['svg'] | file_url }}"><img src="{{ b.links['png'] | file_url }}" alt="{{ b.text }}"></a><figcaption>{{ b.text }} (<a href="{{ b.links['svg'] | file_url }}">SVG</a>)</figcaption></figure>
{%- endif %}
{% endfor %}
</body></html>
"""
)


def to_html(blocks: list[Block], title: str) -> str:
    """The report as one HTML page; figures and files are referenced beside it (opens from disk)."""
    return TEMPLATE.render(blocks=blocks, title=title)


Snapshot = dict[str, tuple[int, int, int]]  # a folder's files: name -> (inode, size, modification time in ns)


def start_build(out_dir: Path) -> Snapshot:
    """Create ``out_dir`` if need be and note its files as a build starting there finds them, for
    :func:`write_documents` to tell the files the build writes from the others. Not by their dates against the
    build's start: a file system dates files by a coarse clock, so a file written just after the start can be
    dated before it (the scoreboard's CSV was then deleted as an earlier build's) and one written just before it,
    in the same tick, after it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return _files(out_dir)


def _files(folder: Path) -> Snapshot:
    found = {}
    for path in folder.iterdir():
        with contextlib.suppress(OSError):  # gone meanwhile
            stat = path.stat()
            if path.is_file():
                found[path.name] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    return found


def written_since(out_dir: Path, started: Snapshot) -> list[str]:
    """The files of ``out_dir`` written since :func:`start_build` gave ``started``: new ones, and those rewritten
    (another inode, size or modification time), sorted."""
    return sorted(name for name, version in _files(out_dir).items() if started.get(name) != version)


def write_documents(blocks: list[Block], out_dir: Path, title: str, started: Snapshot, name: str = "index") -> Path:
    """Write ``<name>.md`` and ``<name>.html`` into ``out_dir``, the last files of a build that ``started``
    (:func:`start_build`), and remove what an earlier build wrote there and this one did not; return the Markdown path."""
    (out_dir / f"{name}.html").write_text(to_html(blocks, title))
    index = out_dir / f"{name}.md"
    index.write_text(to_markdown(blocks))
    _forget_earlier_build(out_dir, started)
    return index


def _forget_earlier_build(out_dir: Path, started: Snapshot) -> None:
    """Delete the files the last build listed in ``BUILD_FILES`` and this one did not rewrite; list this one's.

    Only files a report wrote are ever deleted: a folder shared with other files keeps them.
    """
    manifest = out_dir / BUILD_FILES
    try:
        earlier = json.loads(manifest.read_text())
    except (OSError, ValueError):
        earlier = []
    written = [name for name in written_since(out_dir, started) if name != BUILD_FILES]
    for name in set(earlier if isinstance(earlier, list) else []) - set(written):
        if isinstance(name, str) and "/" not in name:
            (out_dir / name).unlink(missing_ok=True)
    manifest.write_text(json.dumps(written, indent=1) + "\n")
