"""Text from outside (folder names, presets, setting values, a failed run's error) in a report: escaped for HTML,
Markdown, LaTeX and matplotlib, with links only to the report's own files; and a real browser's view of such a page.

The hostile report of the fast tests is built from crafted runs (no training); the browser test reads a copy of the
session's real shared sweep (conftest's ``shared_sweep``) with a hostile folder name and a failed run added.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import matplotlib
import matplotlib.text
import pandas as pd
import pytest
from markdown_it import MarkdownIt

from nnexp.report.build import build_report
from nnexp.report.render import TEXT_AS_IS
from nnexp.results import SUMMARY_FILE
from tests.conftest import CHROMIUM_FLAGS, write_finished_run

# A folder's name holds no "/" (so no closing tag): markup through attributes, links through Markdown's syntax
HOSTILE_FOLDER = (
    "sweep <img src=x onerror=window.__pwned=1> [click](javascript:window.__pwned=2) ](data:,x) `tick` a|b"
    " & 100% _x_ *y* #1 ~ ^ {} \\ <!-- &amp;"
)
HOSTILE_RUN = "run <b onmouseover=window.__pwned=3>|[r](javascript:window.__pwned=4) `` ` ``"
HOSTILE_PRESET = "<script>window.__pwned=5</script></title><script>window.__pwned=6</script> [p](javascript:x) a_b|c"
HOSTILE_ERROR = (
    "boom <script>window.__pwned=7</script>\n`x` | y | [e](data:text/html,<script>alert(1)</script>)"
    " 50% & a_b #c ~d ^e {f} \\end{tabular} ](javascript:alert(2))"
)
# Values of string settings: the table's columns (activation) and the report's sections (optimizer)
HOSTILE_COLUMNS = ["<i>a|b</i>", "c&d_%#`e`"]
HOSTILE_SECTIONS = ["[o](javascript:alert(3))", "p_q & r%"]
HOSTILE_TEXTS = [HOSTILE_FOLDER, HOSTILE_RUN, HOSTILE_PRESET, HOSTILE_ERROR, *HOSTILE_COLUMNS, *HOSTILE_SECTIONS]


def one_line(text: str) -> str:
    return text.replace("\n", " ")


def add_failed_run(sweep: Path, config: dict) -> None:
    """A run folder named ``HOSTILE_RUN`` whose summary says it failed with ``HOSTILE_ERROR``."""
    folder = sweep / HOSTILE_RUN
    folder.mkdir()
    summary = {"status": "failed", "error": HOSTILE_ERROR, "config": config}
    (folder / SUMMARY_FILE).write_text(json.dumps(summary))


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> Path:
    """The report of 16 crafted finished runs and a failed one, every name and value hostile; its folder."""
    sweep = tmp_path_factory.mktemp("hostile") / HOSTILE_FOLDER
    for index, (activation, optimizer, hidden, seed) in enumerate(
        (a, o, h, s) for a in HOSTILE_COLUMNS for o in HOSTILE_SECTIONS for h in (8, 16) for s in (0, 1)
    ):
        config = {"activation": activation, "optimizer": {"name": optimizer}, "hidden": hidden, "seed": seed}
        accuracy = 0.5 + 0.01 * index
        write_finished_run(sweep / f"run{index}", config | {"preset": HOSTILE_PRESET}, [0.4, accuracy], [0.3, accuracy])
    add_failed_run(sweep, {"activation": "relu", "hidden": 8, "seed": 0, "preset": HOSTILE_PRESET})
    build_report(sweep, sweep / "report")
    return sweep / "report"


class _Markup(HTMLParser):
    """Every element, attribute, link target and the text of a page."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.targets: list[str] = []
        self.title = ""
        self.text: list[str] = []
        self._in_title = False
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]
        self.targets += [value for name, value in attrs if name in ("href", "src")]
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text.append(data)


def assert_inert_with_own_links(page: _Markup, report: Path) -> None:
    """No script, no event handler attribute, and every link and image a file of the report's folder."""
    assert "script" not in page.tags
    assert not [name for name in page.attributes if name.lower().startswith("on")]
    for target in page.targets:
        assert re.fullmatch(r"[A-Za-z0-9_.~%/=,-]+", target), target  # no scheme, query or fragment
        assert (report / unquote(target)).resolve().is_file(), target
        assert (report / unquote(target)).resolve().parent == report.resolve(), target


def test_html_page_of_hostile_names_runs_nothing_links_only_its_files_and_shows_the_names(hostile_report) -> None:
    page = _Markup((hostile_report / "index.html").read_text())
    assert_inert_with_own_links(page, hostile_report)
    assert page.title == f"Sweep report: {HOSTILE_PRESET}"
    text = "".join(page.text)
    for hostile in HOSTILE_TEXTS:
        assert one_line(hostile) in text, hostile


def test_markdown_of_hostile_names_renders_as_their_text_with_tables_whole(hostile_report) -> None:
    """index.md and each table's .md, read by a CommonMark parser (with GitHub's tables)."""
    parser = MarkdownIt("commonmark").enable("table")
    for path in [hostile_report / "index.md", *hostile_report.glob("*_by_*.md")]:
        source = path.read_text()
        page = _Markup(parser.render(source))
        assert_inert_with_own_links(page, hostile_report)
        text = "".join(page.text)
        if path.name == "index.md":
            for hostile in HOSTILE_TEXTS:
                assert one_line(hostile) in text, hostile
        for table in re.findall(r"(?:^\|.*\|$\n?)+", source, flags=re.MULTILINE):
            columns = {len(re.findall(r"(?<!\\)\|", re.sub(r"\\.", "", row))) for row in table.splitlines()}
            assert len(columns) == 1, (path.name, table)
    assert "<script>" not in (hostile_report / "index.md").read_text()


LATEX_ESCAPES = re.compile(r"\$\\pm\$|\\[&%$#_{}]|\\text(?:backslash|asciitilde|asciicircum)\{\}")


def test_latex_tables_of_hostile_names_escape_every_special_character(hostile_report) -> None:
    tables = sorted(hostile_report.glob("*.tex"))
    assert tables
    for path in tables:
        source = path.read_text()
        caption = re.search(r"\\caption\{(.*)\}$", source, flags=re.MULTILINE)[1]
        rows = re.findall(r"^(.*)\\\\$", source, flags=re.MULTILINE)
        assert len(rows) >= 3, source  # header lines and the body
        for text in [caption, *rows]:
            rest = LATEX_ESCAPES.sub("", text)
            assert not re.search(r"[%$#_^~\\{}]", rest), (path.name, text)
        separators = {LATEX_ESCAPES.sub("", row).count("&") for row in rows}
        assert len(separators) == 1, (path.name, rows)
        for hostile in HOSTILE_COLUMNS:
            assert hostile.replace("_", r"\_").replace("&", r"\&").replace("%", r"\%").replace("#", r"\#") in source


def test_mathtext_in_a_name_is_drawn_as_text(tmp_path) -> None:
    """A ``$`` pair in a preset or a setting's value is text in the figures, not matplotlib mathtext (which
    refused ``\\oops`` and stopped the report)."""
    sweep = tmp_path / "sweep"
    for index, hidden in enumerate((8, 16)):
        config = {"activation": "relu", "hidden": hidden, "seed": 0, "preset": r"costs $\oops$ and $x^$"}
        write_finished_run(sweep / f"run{index}", config, [0.4, 0.5], [0.3, 0.5])
    build_report(sweep, sweep / "report")
    assert (sweep / "report/curves_acc.png").is_file()
    assert r"costs $\oops$ and $x^$" in (sweep / "report/index.html").read_text()


@pytest.fixture
def browser() -> tuple[str, str]:
    """Chromium and its driver; the test skips without them, or fails where NNEXP_REQUIRE_BROWSER=1 (CI)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    if os.environ.get("NNEXP_REQUIRE_BROWSER") == "1":
        pytest.fail("NNEXP_REQUIRE_BROWSER=1 but chromium or chromedriver is missing (apt-get install chromium)")
    pytest.skip("no Chromium with its driver (Debian: apt-get install chromium chromium-driver)")


@pytest.mark.slow
def test_browser_opens_a_report_of_hostile_names_no_script_runs_every_figure_loads_no_console_error(
    browser, shared_sweep, tmp_path
) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = browser
    sweep = tmp_path / (HOSTILE_FOLDER + " $\\oops$")
    # half the runs (one learning rate: half the figures to draw), the others listed as planned but missing
    shutil.copytree(shared_sweep.sweep_dir, sweep, ignore=shutil.ignore_patterns("report", "*lr=0.5*"))
    add_failed_run(sweep, {"activation": "relu", "hidden": 8, "seed": 0, "preset": HOSTILE_PRESET + " $\\oops$"})
    report = sweep / "report"
    build_report(sweep, report)

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.get((report / "index.html").as_uri())
        found = driver.execute_script(
            """return {
                pwned: window.__pwned === undefined ? null : String(window.__pwned),
                scripts: document.scripts.length,
                handlers: Array.from(document.querySelectorAll('*')).flatMap(
                    e => Array.from(e.attributes).map(a => a.name).filter(n => n.startsWith('on'))),
                links: Array.from(document.links).map(a => a.getAttribute('href')),
                images: Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]),
                title: document.title,
                text: document.body.innerText,
            };"""
        )
        console = driver.get_log("browser")
    finally:
        driver.quit()
    assert found["pwned"] is None and found["scripts"] == 0 and found["handlers"] == [], found
    assert found["title"] == f"Sweep report: {HOSTILE_PRESET} $\\oops$"
    assert len(found["images"]) == len(list(report.glob("*.png"))) >= 5
    for source, complete, width in found["images"]:
        assert complete and width > 0, source
    for target in found["links"] + [source for source, _, _ in found["images"]]:
        assert re.fullmatch(r"[A-Za-z0-9_.~%/=,-]+", target), target
        assert (report / unquote(target)).is_file(), target
    for hostile in (HOSTILE_FOLDER, HOSTILE_RUN, HOSTILE_ERROR):
        assert re.sub(r"\s+", " ", hostile) in re.sub(r"\s+", " ", found["text"]), hostile
    assert not [entry for entry in console if entry["level"] == "SEVERE"], console


def test_a_paragraphs_links_to_anything_but_the_reports_own_files_stay_text() -> None:
    from nnexp.report.document import Block, to_html

    text = "[a](javascript:alert(1)) [b](../../etc/passwd) [c](https://example.org/) [d](/etc) [e](runs.csv)"
    page = _Markup(to_html([Block("p", text)], "links"))
    assert page.targets == ["runs.csv"]
    assert "[a](javascript:alert(1)) [b](../../etc/passwd) [c](https://example.org/) [d](/etc) e" in "".join(page.text)


def test_a_log_axis_drawn_with_texts_as_they_are_shows_plain_numbers() -> None:
    """Figures never parse mathtext (a ``$`` in a name stays a ``$``): a log axis's ticks must not need it either
    (matplotlib's default ticks there are ``$\\mathdefault{10^{-3}}$``, shown as that source text)."""
    from nnexp.report import figures

    runs = pd.DataFrame(
        {"lr": [0.001, 0.01, 0.5] * 2, "activation": ["relu"] * 3 + ["tanh"] * 3, "test_acc": [0.9, 0.8, 0.7] * 2}
    )
    with matplotlib.rc_context(TEXT_AS_IS):
        figure = figures.plot_metric_vs_lr(runs)
        figure.canvas.draw()
        texts = [text.get_text() for text in figure.findobj(matplotlib.text.Text) if text.get_text()]
    assert not [text for text in texts if "$" in text], texts
    assert {"0.001", "0.01", "0.5"} <= set(texts)
