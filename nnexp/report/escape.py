"""Text taken from outside (folder names, settings, data, errors) made safe for where it goes: Markdown, LaTeX,
and links, which only ever point at the report's own files. HTML is escaped by jinja2's autoescape (markupsafe)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import quote

import pandas as pd

# Characters with a meaning in (GitHub's) Markdown inline text or tables: escapes, code, emphasis, links and
# images, raw HTML and entities, strikethrough, closing heading marks, math, table cells; and an underscore but
# between two letters or digits (where it never starts or ends emphasis: `init_scale` stays as it is)
MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>!&~#$|]|(?<![^\W_])_|_(?![^\W_]))")
LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
URL_SAFE = "/=,"  # kept as they are in a URL's path, beside letters, digits and _.-~ (the report's file names)
FILE_URL = re.compile(r"[A-Za-z0-9_.~%=,-]+(?:/[A-Za-z0-9_.~%=,-]+)*")  # what quote(path, URL_SAFE) gives
LINE_BREAKS = re.compile(r"\s*[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")


def one_line(value: object) -> str:
    """``value`` as text on one line: a line break (and the spaces around it) becomes one space."""
    return LINE_BREAKS.sub(" ", str(value))


def markdown_text(value: object) -> str:
    """``value`` as literal Markdown text on one line: every character that Markdown reads as markup is
    backslash-escaped (a table cell's ``|`` too)."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", one_line(value))


def markdown_code(value: object) -> str:
    """``value`` as a Markdown code span on one line, fenced by more backticks than it holds in a row."""
    text = one_line(value)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    padded = text[:1] == text[-1:] == " " and text.strip(" ")  # Markdown would strip one space each side
    padding = " " if text.startswith("`") or text.endswith("`") or padded else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def markdown_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its header and cells as Markdown text (a cell's ``|`` escaped, not a column's end)."""
    return table.rename(columns=markdown_text).map(markdown_text)


def file_url(path: str) -> str:
    """``path``, a file in the report's folder or below it, as a relative URL (percent-encoded: no scheme, no
    query, no fragment); ValueError for any other path."""
    parts = PurePosixPath(path).parts
    if not parts or PurePosixPath(path).is_absolute() or ".." in parts or "\\" in path:
        raise ValueError(f"a report links only to its own files, not to {path!r}")
    return quote(path, safe=URL_SAFE)


def is_file_url(url: str) -> bool:
    """Whether ``url`` is one that :func:`file_url` gives: a relative, percent-encoded path into the report."""
    return bool(FILE_URL.fullmatch(url)) and ".." not in url.split("/")


def markdown_link(label: object, path: str) -> str:
    """A Markdown link to the report's own file ``path`` (see :func:`file_url`), labelled ``label``."""
    return f"[{markdown_text(label)}]({file_url(path)})"


def latex_text(value: object) -> str:
    """``value`` as literal LaTeX text on one line."""
    return "".join(LATEX_SPECIAL.get(char, char) for char in one_line(value))
