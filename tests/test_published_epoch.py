"""A value published at an epoch ("0.988 at epoch 74") is set beside the runs' metric after that epoch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nnexp.errors import ReportError
from nnexp.report.published import UNMEASURED, compare, load_published, summary_text
from nnexp.report.stats import Predictive

HEADER = "source,table,metric,unit,relation,lr,epoch,value\n"


def _published(tmp_path: Path, rows: list[str]) -> pd.DataFrame:
    path = tmp_path / "table.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return load_published(path)


def _runs_and_curves() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three seeds at lr 1 whose validation accuracy is 0.5 after epoch 1, 0.9 + seed/100 after epoch 2, and
    0.96 at the end (epoch 3); their final values disagree with every per-epoch one but the last."""
    runs, curves = [], []
    for seed in range(3):
        run = f"lr=1,seed={seed}"
        runs.append({"run": run, "lr": 1, "seed": seed, "val_acc": 0.96, "test_acc": 0.97, "status": "completed"})
        for epoch, acc in enumerate([0.5, 0.9 + seed / 100, 0.96], start=1):
            curves.append({"run": run, "epoch": epoch, "val_acc": acc, "val_loss": 1 - acc})
    return pd.DataFrame(runs), pd.DataFrame(curves)


def test_a_value_at_an_epoch_is_compared_with_the_runs_metric_after_that_epoch(tmp_path) -> None:
    published = _published(
        tmp_path,
        ["w,V.B,val_acc,%,=,1,2,91", "w,V.B,val_acc,%,=,1,1,91", "w,V.B,val_acc,%,=,1,,96", "w,V.B,val_acc,%,=,1,9,91"],
    )
    runs, curves = _runs_and_curves()
    table = compare(published, runs, curves)
    assert table["epoch"].tolist() == ["2", "1", "", "9"]
    at_2, at_1, final, beyond = (table.iloc[i] for i in range(4))
    assert at_2["ours"] == pytest.approx(91.0) and at_2["n"] == 3 and at_2["verdict"] == "within PI"
    assert at_2["pi95"] == pytest.approx(Predictive.of([90.0, 91.0, 92.0]).half_width())  # one run, at epoch 2
    assert at_1["ours"] == pytest.approx(50.0) and at_1["verdict"] == "published above PI"
    assert final["ours"] == pytest.approx(96.0) and final["n"] == 3  # the final value, from runs.csv
    assert beyond["n"] == 0 and beyond["verdict"] == UNMEASURED  # no run reached epoch 9


def test_without_per_epoch_metrics_a_value_at_an_epoch_is_not_measured_neither_passed_nor_failed(tmp_path) -> None:
    published = _published(
        tmp_path, ["w,V.B,val_acc,%,=,1,2,91", "w,V.B,val_acc,%,=,1,,96", "w,V.B,val_acc,%,=,5,2,91"]
    )
    runs, _ = _runs_and_curves()
    for curves in (None, pd.DataFrame()):
        table = compare(published, runs, curves)
        assert table["verdict"].tolist() == [UNMEASURED, "within PI", "no run"]
        assert table.loc[0, "n"] == 0 and pd.isna(table.loc[0, "ours"]) and not table.loc[0, "closest"]
    text = summary_text(compare(published, runs), "w, V.B")
    assert "1 not measured" in text and "per-epoch" in text


def test_the_curve_named_is_the_one_read(tmp_path) -> None:
    published = _published(tmp_path, ["w,V.C,val_loss,,=,1,2,0.1", "w,V.C,train_loss,,=,1,2,0.1"])
    runs, curves = _runs_and_curves()
    table = compare(published, runs, curves)
    assert table.loc[0, "ours"] == pytest.approx(0.09) and table.loc[0, "n"] == 3  # 1 - (0.90, 0.91, 0.92)
    assert table.loc[1, "verdict"] == UNMEASURED  # the curves have no training loss: not read from another one


@pytest.mark.parametrize("epoch", ["0", "-3", "1.5", "last"])
def test_an_epoch_is_a_positive_whole_number(tmp_path, epoch: str) -> None:
    with pytest.raises(ReportError, match="epoch"):
        _published(tmp_path, [f"w,V.B,val_acc,%,=,1,{epoch},91"])
