"""The HTML report, the figure functions on tidy frames, compare mode, and a real browser's view of the page."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from nnexp.report.__main__ import main as report_main
from nnexp.report.build import build_comparison
from nnexp.report.document import start_build, written_since
from nnexp.report.figures import plot_curves, plot_heatmap, plot_metric_vs_lr, plot_metric_vs_time, plot_parallel
from nnexp.report.runs import load_curves, load_runs
from nnexp.sweep.provenance import git_revision
from tests.conftest import CHROMIUM_FLAGS, SHARED_RUNS

# The sweep read here (activation=sigmoid,relu hidden=8,16 lr=0.05,0.5 seed=0,1 on digits, 3 epochs, 2 joblib workers)
# is conftest's session-wide ``shared_sweep``, which test_sweep.py reads as well.


class _Page(HTMLParser):
    """Tables (as lists of rows of cell texts), image sources and links of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs["href"])

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None


@pytest.mark.slow
def test_html_page_has_the_tables_with_the_runs_numbers_and_every_file_resolves(shared_sweep) -> None:
    report = shared_sweep.report_dir
    page = _Page()
    page.feed((report / "index.html").read_text())
    runs = pd.read_csv(report / "runs.csv")
    expected = runs[(runs["lr"] == 0.5) & (runs["hidden"] == 16) & (runs["activation"] == "relu")]["test_acc"].mean()
    accuracy_tables = [t for t in page.tables if t and t[0][:3] == ["hidden", "relu", "sigmoid"]]
    assert len(accuracy_tables) >= 2  # test accuracy per lr (and training time)
    cells = [row for table in accuracy_tables for row in table[1:] if row[0] == "16"]
    assert any(row[1].startswith(f"{100 * expected:.2f}") for row in cells), (cells, expected)
    assert len(page.images) >= 11
    for reference in page.images + [link for link in page.links if not link.startswith("http")]:
        assert (report / reference).is_file(), reference
    for png in page.images:
        assert (report / png.replace(".png", ".svg")).is_file()


@pytest.mark.slow
def test_provenance_is_in_the_page(shared_sweep) -> None:
    text = (shared_sweep.report_dir / "index.html").read_text()
    assert "python -m nnexp.run -m" in text and "activation=sigmoid,relu" in text
    assert "Code (git)" in text and "numpy" in text and "Host" in text and "Sweep started" in text


@pytest.mark.slow
def test_code_revision_is_marked_changed_by_code_and_configs_not_by_generated_reports(tmp_path) -> None:
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True, capture_output=True
        )

    for path in ("nnexp/train.py", "conf/config.yaml", "reports/bench/bench.md", "README.md"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("v1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "v1")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    package = tmp_path / "nnexp"
    for generated in ("reports/bench/bench.md", "README.md"):  # e.g. the benchmark writing its own results
        (tmp_path / generated).write_text("v2\n")
    assert git_revision(package) == commit
    for code in ("conf/config.yaml", "nnexp/train.py"):
        git("checkout", "-q", "--", ".")
        (tmp_path / code).write_text("v2\n")
        assert git_revision(package) == f"{commit} with uncommitted changes", code
    assert git_revision(tmp_path / "nowhere") == "unknown"


@pytest.mark.slow
def test_figure_functions_take_tidy_frames(shared_sweep) -> None:
    runs = load_runs(shared_sweep.sweep_dir)
    assert len(runs) == SHARED_RUNS
    curves, _ = load_curves(shared_sweep.sweep_dir, runs)
    figures = {
        "curves": plot_curves(curves, "hidden", "activation", "acc", "curves"),
        "heatmap": plot_heatmap(runs, "hidden", "activation", "test_acc", "heat"),
        "time": plot_metric_vs_time(runs),
        "lr": plot_metric_vs_lr(runs),
        "parallel": plot_parallel(runs, ["activation", "hidden", "lr"]),
    }
    for name, fig in figures.items():
        assert fig.axes[0].get_title() or fig.get_suptitle(), name
        assert any(ax.get_xlabel() for ax in fig.axes), name
        assert any(ax.get_ylabel() for ax in fig.axes), name
        plt.close(fig)
    # every axis of the parallel coordinates has its values written at its ticks, the result's axis too
    shown = {text.get_text() for text in figures["parallel"].axes[0].texts}
    accuracies = runs["test_acc"] * 100
    assert {"relu", "sigmoid", "8", "16", "0.05", "0.5"} <= shown
    assert {f"{accuracies.min():.2f}", f"{accuracies.max():.2f}"} <= shown
    heat = figures["heatmap"].axes[0]
    labels = [t.get_text() for t in heat.texts]
    assert len(labels) == 4 and all("±" in label for label in labels)  # 2 x 2 cells, 4 runs each
    lr_axes = figures["lr"].axes[0]
    assert lr_axes.get_xscale() == "log" and len(lr_axes.get_legend().get_texts()) == 2


@pytest.mark.slow
def test_compare_mode_puts_sweeps_side_by_side(shared_sweep, tmp_path, capsys) -> None:
    other = tmp_path / "other"
    shutil.copytree(shared_sweep.sweep_dir, other)
    index = build_comparison([shared_sweep.sweep_dir, other], tmp_path / "cmp")
    table = pd.read_csv(tmp_path / "cmp/test_acc_compared.csv", index_col="hidden")
    assert list(table.columns) == ["grid · relu", "grid · sigmoid", "other · relu", "other · sigmoid"]
    np.testing.assert_allclose(table["grid · relu"], table["other · relu"])
    assert "curves_acc_compared.png" in index.read_text()
    assert (tmp_path / "cmp/index.html").is_file()
    with pytest.raises(SystemExit) as exit_info:  # several folders need --compare
        report_main([str(shared_sweep.sweep_dir), str(other)])
    assert exit_info.value.code == 2 and "add --compare" in capsys.readouterr().err


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed (Debian: apt-get install chromium)")
def test_browser_renders_the_page(shared_sweep, tmp_path) -> None:
    report = shared_sweep.report_dir
    shot = tmp_path / "page.png"  # kept in the test's own folder: the shared report must stay as the sweep drew it
    subprocess.run(
        [
            _chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            (report / "index.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = plt.imread(shot)
    assert image.shape[0] >= 2000 and image.shape[1] >= 1200
    assert image[..., :3].std() > 0.05  # not a blank page: text, tables and figures were drawn


def test_a_setting_that_follows_the_rows_gets_no_section_of_its_own() -> None:
    from nnexp.report.build import follows

    runs = pd.DataFrame(
        {
            "optimizer": ["sgd", "sgd", "adam", "adam"],
            "weight_decay": [0, 1e-4, 0, 1e-4],
            "lr": [0.1, 0.1, 0.001, 0.001],  # set by each optimizer's group
            "seed": [0, 1, 0, 1],
        }
    )
    assert follows(runs, "lr", ["optimizer", "weight_decay"])
    assert not follows(runs, "seed", ["optimizer"])
    assert not follows(runs.iloc[:0], "lr", ["optimizer"])


def test_a_build_tells_the_files_it_writes_from_the_others_whatever_their_dates(tmp_path) -> None:
    """A rebuild deletes the files of the earlier build that it did not write: a file rewritten right after the build
    started counts as written, one written just before it does not, though the file system's coarse clock can date
    either on the wrong side of the start (with dates against ``time.time()``, 1 in 5 rebuilds of the scoreboard
    deleted its CSV, and a file of the user's written just before a rebuild was taken for the report's)."""
    table, notes = tmp_path / "table.csv", tmp_path / "notes.txt"
    table.write_text("earlier build")
    for build in range(300):
        notes.write_text(f"the user's own, {build}")
        started = start_build(tmp_path)
        table.write_text(f"build {build}")
        assert written_since(tmp_path, started) == ["table.csv"]
