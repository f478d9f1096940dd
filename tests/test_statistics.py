"""The statistical method of docs/statistics.md, checked where the truth is known: synthetic normal draws."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nnexp.report.protocols import protocol_distances
from nnexp.report.published import compare, load_published
from nnexp.report.stats import Predictive, t_interval

TRIALS = 4000


@pytest.mark.parametrize("n", [3, 5, 10])
def test_the_prediction_interval_covers_a_new_draw_95_percent_of_the_time(n: int) -> None:
    rng = np.random.default_rng(n)
    draws = rng.normal(70.0, 4.0, size=(TRIALS, n + 1))  # n runs of a protocol, then one more (a published run)
    covered = by_the_mean = 0
    for *runs, new in draws:
        one_run = Predictive.of(np.array(runs))
        covered += abs(new - one_run.mean) <= one_run.half_width()
        by_the_mean += abs(new - one_run.mean) <= t_interval(runs)[1]
    error = math.sqrt(0.95 * 0.05 / TRIALS)  # binomial standard error of the coverage
    assert abs(covered / TRIALS - 0.95) <= 3 * error
    assert by_the_mean / TRIALS < 0.87  # the CI of the mean is not one for a run (84% at n = 3, 49% at n = 10)


def test_the_t_quantile_and_densities_match_the_tables() -> None:
    one_run = Predictive.of(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert one_run.dof == 4 and one_run.scale == pytest.approx(math.sqrt(2.5 * 1.2))
    assert one_run.half_width() == pytest.approx(2.7764451051977987 * math.sqrt(3.0), rel=1e-12)  # t(0.975, 4)
    assert Predictive(0.0, 1.0, 1.0).log_density(0.0) == pytest.approx(-math.log(math.pi))  # Cauchy at its centre
    assert Predictive(0.0, 1.0, 1.0).log_at_least(1.0) == pytest.approx(math.log(0.25))  # Cauchy: P(T >= 1)
    # the mean log score of the distribution's own draws (Monte Carlo) is its expected_log_density
    rng = np.random.default_rng(0)
    fresh = Predictive(3.0, 2.0, 4.0)
    draws = fresh.mean + fresh.scale * rng.standard_t(fresh.dof, size=200_000)
    scores = [fresh.log_density(x) for x in draws[:20_000]]
    assert np.mean(scores) == pytest.approx(fresh.expected_log_density(), abs=0.02)


def test_runs_without_spread_never_give_a_zero_width_interval(tmp_path) -> None:
    assert Predictive.of(np.array([0.9, 0.9, 0.9])).half_width() == 0.0  # no floor asked: the bare formula
    floored = Predictive.of(np.array([90.0, 90.0, 90.0]), floor=0.01)
    assert floored.half_width() == pytest.approx(4.302652729911275 * 0.01 * math.sqrt(4 / 3))
    assert math.isfinite(floored.log_density(90.5))
    table = tmp_path / "t.csv"
    table.write_text("source,table,metric,unit,relation,protocol,hidden,value\nw,T,test_acc,%,=,p,32,90.03\n")
    runs = pd.DataFrame({"hidden": [32] * 3, "seed": [0, 1, 2], "test_acc": [0.9] * 3, "n_test": [10_000] * 3})
    (row,) = compare(load_published(table), runs).itertuples()
    assert row.ci95 == 0.0 and row.pi95 == pytest.approx(
        floored.half_width()
    )  # one test image (0.01 points) is the least spread credited
    assert row.verdict == "within PI"  # 90.03 is 3 images away from 90.00: one run may differ by that much


def test_a_value_outside_the_ci_of_the_mean_can_be_one_run_within_the_prediction_interval(tmp_path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("source,table,metric,unit,relation,protocol,hidden,value\nw,T,test_acc,%,=,p,32,62\n")
    accs = [0.70, 0.74, 0.66, 0.72, 0.68]  # 70 ± 2.0 (s 3.2): the CI is 66.1-73.9, the PI 60.4-79.6
    runs = pd.DataFrame({"hidden": [32] * 5, "seed": range(5), "test_acc": accs, "n_test": [10_000] * 5})
    (row,) = compare(load_published(table), runs).itertuples()
    assert row.ours - row.ci95 > 62.5 and row.verdict == "within PI"


def test_the_proper_score_ranks_the_true_generating_protocol_first(tmp_path) -> None:
    # published values: one draw per cell from protocol "b"; protocols a (0.5 s.d. lower), b, c (wider) have 5 runs
    rng = np.random.default_rng(7)
    truth = {32: (80.0, 1.0), 64: (85.0, 1.0), 128: (88.0, 1.0), 256: (90.0, 1.0)}
    wins = 0
    for trial in range(20):
        published = {h: rng.normal(m, s) for h, (m, s) in truth.items()}
        protocols = {"a": (-0.5, 1.0), "b": (0.0, 1.0), "c": (0.0, 4.0)}
        rows = [
            {"hidden": h, "init": name, "seed": seed, "test_acc": rng.normal(m + shift, s * widen) / 100}
            for name, (shift, widen) in protocols.items()
            for h, (m, s) in truth.items()
            for seed in range(5)
        ]
        table = tmp_path / f"t{trial}.csv"
        table.write_text(
            "source,table,metric,unit,relation,protocol,hidden,value\n"
            + "".join(f"w,T,test_acc,%,=,p,{h},{v:.2f}\n" for h, v in published.items())
        )
        ranked = protocol_distances(load_published(table), pd.DataFrame(rows), pd.DataFrame())
        wins += ranked.iloc[0]["init"] == "b"
    assert wins >= 12  # b is most likely more often than a and c together (a single trial is noisy)
