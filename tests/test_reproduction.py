"""Reproducing the write-ups: statistics, the published-value join, presets, diagnostics, tasks, saved models."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnexp.data import DataConfig, load_dataset
from nnexp.errors import ReportError
from nnexp.model import MLP
from nnexp.predict import main as predict_main
from nnexp.report.build import build_report
from nnexp.report.protocols import protocol_distances, rankable, rankings, readings, verdict_text
from nnexp.report.published import compare, key_columns, load_published, summary_text
from nnexp.report.stats import t_interval
from nnexp.training import execute
from nnexp.training.diagnostics import diagnose
from tests.conftest import CONF_DIR, ROOT, run_nnexp, settings_of, write_finished_run

PRESETS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def test_t_interval_matches_the_textbook() -> None:
    mean, half, n = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    t_975_4 = 2.7764451051977987  # Student's t, 97.5% quantile, 4 degrees of freedom (tables)
    assert (mean, n) == (3.0, 5)
    assert half == pytest.approx(t_975_4 * math.sqrt(2.5) / math.sqrt(5), rel=1e-12)
    assert t_interval([0.9, 0.9, 0.9])[1] == 0.0
    single = t_interval([0.5])
    assert single[0] == 0.5 and math.isnan(single[1]) and single[2] == 1
    assert t_interval([float("nan"), 1.0, 3.0])[0] == 2.0  # NaN (e.g. a diverged loss) ignored
    assert t_interval([])[2] == 0


def _published(tmp_path: Path, rows: list[str], keys: str = "activation,hidden") -> pd.DataFrame:
    path = tmp_path / "table.csv"
    path.write_text(
        "# a comment\nsource,table,metric,unit,relation,protocol," + keys + ",value\n" + "\n".join(rows) + "\n"
    )
    return load_published(path)


def _runs(values: dict[tuple, list[float]], keys=("activation", "hidden"), extra: dict | None = None) -> pd.DataFrame:
    rows = []
    for key, accs in values.items():
        for seed, acc in enumerate(accs):
            rows.append({**dict(zip(keys, key)), **(extra or {}), "seed": seed, "test_acc": acc, "status": "completed"})
    return pd.DataFrame(rows)


def test_published_values_are_joined_to_runs_with_a_verdict(tmp_path) -> None:
    published = _published(
        tmp_path,
        [
            "w,T1,test_acc,%,=,p,relu,32,50.0",  # inside our prediction interval (45.0..55.0)
            "w,T1,test_acc,%,=,p,relu,64,90.0",  # above it
            "w,T1,test_acc,%,=,p,tanh,32,10.0",  # below it
            "w,T1,test_acc,%,=,p,tanh,999,70.0",  # no run with 999 hidden units
            "w,T1,test_acc,%,>=,p,tanh,64,60.0",  # a claimed lower bound
        ],
    )
    runs = _runs(
        {
            ("relu", 32): [0.49, 0.50, 0.51],
            ("relu", 64): [0.60, 0.61, 0.62],
            ("tanh", 32): [0.70, 0.71, 0.72],
            ("tanh", 64): [0.80, 0.81, 0.82],
        }
    )
    table = compare(published, runs)
    assert len(table) == 5
    verdicts = dict(zip(zip(table["activation"], table["hidden"]), table["verdict"]))
    assert verdicts == {
        ("relu", "32"): "within PI",
        ("relu", "64"): "published above PI",
        ("tanh", "32"): "published below PI",
        ("tanh", "999"): "no run",
        ("tanh", "64"): "claim holds",
    }
    row = table[(table["activation"] == "relu") & (table["hidden"] == "64")].iloc[0]
    assert row["ours"] == pytest.approx(61.0) and row["delta"] == pytest.approx(-29.0) and row["n"] == 3
    assert row["ci95"] == pytest.approx(t_interval([60.0, 61.0, 62.0])[1])
    assert row["pi95"] == pytest.approx(4.302652729911275 * 1.0 * math.sqrt(1 + 1 / 3))  # t(0.975, 2) s sqrt(1+1/n)
    missing = table[table["hidden"] == "999"].iloc[0]
    assert missing["n"] == 0 and math.isnan(missing["ours"]) and not missing["closest"]
    text = summary_text(table, "w, T1")
    assert "5 published values" in text and "1 no run" in text and "1 within PI" in text


def test_a_split_seed_drawn_with_the_seed_is_a_replicate_not_a_protocol(tmp_path) -> None:
    """The presets draw each run's validation split with its seed (data.split_seed: ${seed}): runs that differ in
    their seeds only are repeats of one configuration, in the comparison, the protocol ranking and the report."""
    published = _published(tmp_path, ["w,T1,test_acc,%,=,p,relu,32,50.0", "w,T1,test_acc,%,=,p,relu,64,90.0"])
    values = {("relu", 32): [0.49, 0.50, 0.51], ("relu", 64): [0.89, 0.90, 0.91]}
    runs = _runs(values).assign(**{"data.split_seed": lambda frame: frame["seed"], "epochs": 1})
    table = compare(published, runs)
    assert list(table["n"]) == [3, 3] and set(table["verdict"]) == {"within PI"}
    assert set(table["setting"].fillna("")) == {""}  # one protocol: no setting tells rows apart
    curves = pd.DataFrame([{"run": f"r{i}", "epoch": 1, "test_acc": acc} for i, acc in enumerate(runs["test_acc"])])
    ranked = protocol_distances(published, runs.assign(run=[f"r{i}" for i in range(len(runs))]), curves)
    assert len(ranked) == 1 and "data.split_seed" not in ranked.columns and ranked.iloc[0]["runs_per_cell"] == 3

    sweep = tmp_path / "sweep"
    for (activation, hidden), accs in values.items():
        for seed, acc in enumerate(accs):
            config = {"activation": activation, "hidden": hidden, "seed": seed, "data": {"split_seed": seed}}
            write_finished_run(sweep / f"hidden={hidden},seed={seed}", config, [acc], [acc])
    index = build_report(sweep, tmp_path / "report", metrics=["test_acc"]).read_text()
    assert "split_seed=" not in index  # one section, not one per split
    assert "50.00 ± " in index and "90.00 ± " in index  # each cell: the mean of its 3 runs, with their interval


def test_a_setting_null_in_some_runs_and_set_in_others_tells_protocols_apart(tmp_path) -> None:
    """data.train_limit null (every training image) against 1000 are two protocols (a000_hypotheses' small_train
    against the rest), named so; a run recorded before a setting existed has the value it computed."""
    from nnexp.report.columns import config_columns

    published = _published(tmp_path, ["w,T1,test_acc,%,=,p,relu,32,50.0"])
    every_image = _runs({("relu", 32): [0.90, 0.91, 0.92]}, extra={"data.train_limit": None})
    few_images = _runs({("relu", 32): [0.49, 0.50, 0.51]}, extra={"data.train_limit": 1000})
    runs = pd.concat([every_image, few_images], ignore_index=True).assign(epochs=1)
    table = compare(published, runs)
    assert len(table) == 2 and table.loc[table["closest"], "setting"].item() == "data.train_limit=1000"
    curves = pd.DataFrame([{"run": f"r{i}", "epoch": 1, "test_acc": acc} for i, acc in enumerate(runs["test_acc"])])
    ranked = protocol_distances(published, runs.assign(run=[f"r{i}" for i in range(len(runs))]), curves)
    assert len(ranked) == 2 and ranked.iloc[0]["data.train_limit"] == 1000
    assert config_columns({"lr": 0.1, "data": {"val_size": 0.1}})["grad_reduction"] == "mean"


def test_ablation_settings_each_get_a_row_and_the_closest_is_marked(tmp_path) -> None:
    published = _published(tmp_path, ["w,T1,test_acc,%,=,p,relu,64,40.0"])
    runs = pd.concat(
        [
            _runs({("relu", 64): [0.90, 0.91]}, extra={"init_scale": 0.01}),
            _runs({("relu", 64): [0.38, 0.42]}, extra={"init_scale": 1.0}),
        ]
    )
    table = compare(published, runs)
    assert list(table["setting"]) == ["init_scale=0.01", "init_scale=1"]  # named as the protocol ranking names it
    assert list(table["closest"]) == [False, True]
    assert "init_scale=1 " in summary_text(table, "w")


def test_candidate_protocols_are_ranked_by_their_distance_to_the_table_with_epochs_from_the_curves(tmp_path) -> None:
    published = _published(tmp_path, ["w,T1,test_acc,%,=,p,relu,32,50.0", "w,T1,test_acc,%,=,p,relu,64,90.0"])
    # init_scale=1.0 reaches the table after 2 of its 3 epochs; init_scale=0.01 is far from it at every epoch
    per_epoch = {
        (1.0, 32): [[0.20, 0.49, 0.60], [0.21, 0.51, 0.61], [0.22, 0.50, 0.62]],
        (1.0, 64): [[0.30, 0.89, 0.95], [0.31, 0.91, 0.96], [0.32, 0.90, 0.97]],
        (0.01, 32): [[0.70, 0.80, 0.90]] * 3,
        (0.01, 64): [[0.70, 0.80, 0.90]] * 3,
    }
    runs, curves = [], []
    for (scale, hidden), seeds in per_epoch.items():
        for seed, accs in enumerate(seeds):
            run = f"s{scale}-h{hidden}-{seed}"
            runs.append(
                {"run": run, "activation": "relu", "hidden": hidden, "init_scale": scale, "seed": seed, "epochs": 3}
                | {"lr_schedule": "constant", "test_acc": accs[-1], "status": "completed"}
            )
            curves += [{"run": run, "epoch": e + 1, "test_acc": acc} for e, acc in enumerate(accs)]
    distances = protocol_distances(published, pd.DataFrame(runs), pd.DataFrame(curves))
    assert len(distances) == 6  # 2 scales x 3 epoch counts
    best = distances.iloc[0]
    assert (best["init_scale"], best["epochs"]) == (1.0, 2)
    assert best["within_ci"] == 2 and best["measured"] == 2 and best["runs_per_cell"] == 3
    assert best["rms"] == pytest.approx(0.0, abs=1e-9)
    third = distances[(distances["init_scale"] == 1.0) & (distances["epochs"] == 3)].iloc[0]
    assert third["rms"] == pytest.approx(math.sqrt((11.0**2 + 6.0**2) / 2)) and third["within_ci"] == 0
    assert best["within_pi"] == 2 and best["scored"] == 2 and best["log_score"] > distances["log_score"].iloc[1]
    assert "of 6 candidate protocols, the published values are most likely under init_scale=1, epochs=2" in (
        verdict_text(distances, "w, T1")
    )
    # a schedule that depends on the total epochs: only the final value counts
    scheduled = pd.DataFrame(runs).assign(lr_schedule="cosine")
    assert set(protocol_distances(published, scheduled, pd.DataFrame(curves))["init_scale"]) == {0.01, 1.0}
    final = protocol_distances(published, scheduled, pd.DataFrame(curves))
    assert final.iloc[0]["init_scale"] == 1.0 and final.iloc[0]["within_pi"] == 0  # 0.01: 90% at either size
    assert "of 2 candidate protocols, the published values are most likely under init_scale=1:" in (
        verdict_text(final, "w")
    )


def test_a_diverged_run_counts_for_every_epoch_count_after_it_with_its_last_value(tmp_path) -> None:
    published = _published(tmp_path, ["w,T1,test_acc,%,=,p,relu,32,50.0", "w,T1,test_acc,%,=,p,relu,64,90.0"])
    runs, curves = [], []
    for hidden, accs in ((32, [0.5, 0.5, 0.5]), (64, [0.9, 0.1])):  # at 64 units every seed diverges at epoch 2
        for seed in range(3):
            run = f"h{hidden}-{seed}"
            status = "completed" if len(accs) == 3 else "diverged"
            runs.append({"run": run, "activation": "relu", "hidden": hidden, "seed": seed, "epochs": 3})
            runs[-1] |= {"lr_schedule": "constant", "test_acc": accs[-1], "status": status}
            curves += [{"run": run, "epoch": e + 1, "test_acc": acc + 0.001 * seed} for e, acc in enumerate(accs)]
    distances = protocol_distances(published, pd.DataFrame(runs), pd.DataFrame(curves)).set_index("epochs")
    assert (distances["measured"] == 2).all()  # the diverged runs count at 3 epochs too, at 10%
    assert distances.loc[1, "within_ci"] == 2 and distances.loc[1, "rms"] < 0.2
    assert distances.loc[3, "rms"] == pytest.approx(distances.loc[2, "rms"])
    assert distances.loc[3, "rms"] > 50
    assert distances.index[0] == 1  # the closest: stopped before the divergence


def test_only_tables_of_published_test_accuracies_with_exact_values_are_ranked_and_read_again(tmp_path) -> None:
    exact = _published(tmp_path, ["w,T1,test_acc,%,=,p,relu,32,50.0"])
    assert rankable(exact) and readings(exact, ["test_acc", "train_acc", "val_acc", "train_seconds"]) == [
        "train_acc",
        "val_acc",
    ]
    claims = _published(tmp_path, ["w,T1,test_acc,%,>=,p,relu,32,50.0"])
    assert not rankable(claims)
    runs = _runs({("relu", 32): [0.5, 0.6]}, extra={"lr": 0.1})
    assert rankings(claims, pd.concat([runs, runs.assign(lr=0.2)]), pd.DataFrame(), ["train_acc"]) == []
    times = _published(tmp_path, ["w,T2,train_seconds,s,=,p,relu,32,50.0"])
    assert not rankable(times) and readings(times, ["train_acc"]) == []
    on_train = _published(tmp_path, ["w,T1,train_acc,%,=,p,relu,32,50.0"])
    assert rankable(on_train) and readings(on_train, ["val_acc"]) == []


def test_published_test_accuracies_are_also_read_as_training_accuracies_when_the_report_shows_them(tmp_path) -> None:
    # lr=0.5 reaches the published 90% / 99% only in training accuracy (after 2 epochs), never in test accuracy
    sweep = tmp_path / "sweep"
    for lr, shift in ((0.5, 0.0), (2.0, -0.3)):
        for hidden, published in ((32, 0.90), (64, 0.99)):
            for seed in range(3):
                train = [published - 0.1 + shift, published + 0.001 * (seed - 1) + shift, published + 0.05 + shift]
                config = {"activation": "sigmoid", "hidden": hidden, "lr": lr, "seed": seed}
                write_finished_run(
                    sweep / f"lr={lr},hidden={hidden},seed={seed}", config, train, [t - 0.2 for t in train]
                )
    table = tmp_path / "table.csv"
    table.write_text(
        "source,table,metric,unit,relation,protocol,activation,hidden,value\n"
        "w,V.D,test_acc,%,=,p,sigmoid,32,90\nw,V.D,test_acc,%,=,p,sigmoid,64,99\n"
    )
    out = tmp_path / "report"
    index = build_report(
        sweep, out, rows="hidden", cols="activation", metrics=["test_acc", "train_acc"], published=[table]
    ).read_text()
    assert "### Which protocol explains w, V.D?" in index
    assert "### Which protocol explains w, V.D, read as training accuracies?" in index
    as_train = pd.read_csv(out / "protocols_table_as_train_acc.csv")
    best = as_train.iloc[0]
    assert (best["lr"], best["epochs"], best["within_ci"]) == (0.5, 2, 2)
    assert best["rms"] == pytest.approx(0.0, abs=1e-9)
    assert (
        "read as training accuracies: of 6 candidate protocols, the published values are most likely under lr=0.5,"
        " epochs=2" in index
    )
    as_test = pd.read_csv(out / "protocols_table.csv")
    assert as_test["within_ci"].max() == 0 and as_test.iloc[0]["rms"] > 5
    # only when the report shows training accuracy
    plain = build_report(sweep, tmp_path / "plain", metrics=["test_acc"], published=[table]).read_text()
    assert "read as" not in plain and not (tmp_path / "plain" / "protocols_table_as_train_acc.csv").exists()


def test_a_published_value_stands_for_the_interval_its_written_digits_allow(tmp_path) -> None:
    runs = _runs({("relu", 32): [0.9248, 0.925, 0.9252]}).assign(n_test=10_000)  # PI 92.5 ± 0.1
    whole = _published(tmp_path, ["w,T1,test_acc,%,=,p,relu,32,92"])  # 91.5 to 92.5
    assert whole["rounding"].tolist() == [0.5]
    assert compare(whole, runs)["verdict"].tolist() == ["within PI"]
    tenths = _published(tmp_path, ["w,T1,test_acc,%,=,p,relu,32,92.0"])  # 91.95 to 92.05
    assert tenths["rounding"].tolist() == [pytest.approx(0.05)]
    assert compare(tenths, runs)["verdict"].tolist() == ["published below PI"]
    assert protocol_distances(whole, pd.concat([runs.assign(lr=0.1), runs.assign(lr=0.2)]), pd.DataFrame())[
        "within_ci"
    ].tolist() == [1, 1]
    with pytest.raises(ReportError, match="value 'about 92' is not a number"):
        _published(tmp_path, ["w,T1,test_acc,%,=,p,relu,32,about 92"])


def test_published_tables_are_checked(tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("source,metric,value\nw,test_acc,1\n")
    with pytest.raises(ValueError, match="lacks the column\\(s\\) unit"):
        load_published(bad)
    bad.write_text("source,metric,unit,value\nw,f1,%,1\n")
    with pytest.raises(ValueError, match="unknown metric\\(s\\) \\['f1'\\]"):
        load_published(bad)


def test_experiments_tables_load_and_name_real_settings(compose_config) -> None:
    settings = set(compose_config().keys()) | {"hidden"}
    for path in sorted((ROOT / "experiments").glob("*.csv")):
        table = load_published(path)
        assert len(table) > 0 and table["source"].str.len().gt(0).all(), path
        keys = key_columns(table)
        assert set(keys) <= settings, (path, set(keys) - settings)
        assert {"metric", "value", "rounding"}.isdisjoint(keys)


SEEDS = ROOT.parent / "shared" / "seeds"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is absent")
def test_published_values_are_written_with_the_digits_of_their_write_up() -> None:
    # "12.30", not "12.3": the digits say how precise the value is (its 'rounding'); an accuracy the write-up
    # gives as a fraction (0.9919) is that fraction in percent, a whole percent appears as "92%" or "98%"
    for path in sorted((ROOT / "experiments").glob("*.csv")):
        table = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False)
        for source, written in zip(table["source"], table["value"]):
            (writeup,) = SEEDS.glob(f"{source}_*.txt")
            text = writeup.read_text()
            fraction = str(Decimal(written) / 100)
            found = re.search(rf"(?<![\d.]){re.escape(written)}(?:%|(?![\d.]))", text) or fraction in text
            assert found, (path.name, written)


def test_published_numbers_are_typed_only_in_experiments() -> None:
    numbers = set()
    for path in (ROOT / "experiments").glob("*.csv"):
        # values of 3 digits or more ("92.0" for 92): one of 2 digits, as 003's validation loss "0.25", is too
        # common a number (a 0.25 s poll interval) to tell a published value typed elsewhere
        written = load_published(path)["value"].astype(str)
        numbers |= {v for v in written if re.fullmatch(r"\d+\.\d+", v) and len(v.replace(".", "").lstrip("0")) >= 3}
    assert numbers
    for folder in ("nnexp", "conf", "tests"):
        for path in (ROOT / folder).rglob("*.*"):
            if path.suffix in (".py", ".yaml"):
                text = path.read_text()
                found = [n for n in numbers if re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", text)]
                assert not found, (path, found)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_and_names_its_grid(compose_config, preset) -> None:
    cfg = compose_config([f"+experiment={preset}"], hydra=True)
    assert cfg.preset == preset
    assert "seed" in cfg.hydra.sweeper.params and cfg.hydra.sweep.dir == f"multirun/{preset}"
    # no write-up fixes its validation split: it varies with the seed, and its variance is in the intervals
    assert cfg.data.split_seed == cfg.seed and compose_config([f"+experiment={preset}", "seed=3"]).data.split_seed == 3
    for path in cfg.report.published:
        assert (ROOT / path).is_file(), path


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_runs_a_tiny_version_end_to_end(tmp_path, preset, compose_config) -> None:
    expected = [Path(p).name for p in compose_config([f"+experiment={preset}"]).report.published]
    done = run_nnexp(
        [
            "-m",
            f"+experiment={preset}",
            "data=digits",
            "epochs=2",
            "seed=0,1",
            "hydra.sweep.dir=multirun/tiny",
            "report.dir=reports",
        ],
        tmp_path,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    index = (tmp_path / "reports/tiny/index.md").read_text()
    runs = pd.read_csv(tmp_path / "reports/tiny/runs.csv")
    assert set(runs["status"]) <= {"completed", "diverged"} and set(runs["seed"]) == {0, 1}
    assert (runs["preset"] == preset).all()
    published = [p for p in (ROOT / "experiments").glob("*.csv") if p.name in index]
    assert sorted(p.name for p in published) == sorted(expected)  # every table the preset names, no other
    for path in published:
        comparison = pd.read_csv(tmp_path / f"reports/tiny/published_{path.stem}.csv")
        assert len(comparison) >= len(load_published(path))
        assert "## Published vs reproduced" in index


def test_diagnostics_see_saturation_and_dead_units() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, size=(50, 20)), rng.integers(0, 10, size=50)
    saturated = MLP.initialise([20, 8, 10], "sigmoid", "normal", rng, np.float64, init_scale=50.0)
    (row,) = diagnose([saturated], x, [y])
    assert row["h1_saturated"] > 0.8 and math.isnan(row["h1_dead"])
    calm = MLP.initialise([20, 8, 10], "tanh", "normal", rng, np.float64, init_scale=0.001)
    assert diagnose([calm], x, [y])[0]["h1_saturated"] == 0.0
    dead = MLP.initialise([20, 8, 6, 10], "relu", "he", rng, np.float64)
    dead.biases[1][:3] = -1e6  # three units of the second hidden layer never fire,
    dead.biases[1][3:] = 1e6  # the other three always do
    (row,) = diagnose([dead], x, [y])
    assert row["h2_dead"] == pytest.approx(3 / 6) and math.isnan(row["h2_saturated"])
    assert row["grad1_norm"] > 0 and row["w3_norm"] == pytest.approx(np.linalg.norm(dead.weights[2]))


def test_networks_diagnosed_together_get_each_one_s_own_diagnostics() -> None:
    """Networks sharing a probe are diagnosed as one pack of copies: each gets the figures it gets alone (to float64
    rounding of the stacked products), alone exactly the norms of its own gradients, and no network is changed."""
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 1, size=(60, 12)), [rng.integers(0, 4, size=60) for _ in range(3)]
    models = [
        MLP.initialise([12, 5, 4], "tanh", "normal", rng, np.float64, init_scale=scale, loss=loss, output=output)
        for scale, loss, output in (
            (0.5, "cross_entropy", "softmax"),
            (3.0, "mse", "sigmoid"),
            (1.0, "cross_entropy", "sigmoid"),
        )
    ]
    before = [[param.copy() for param in model.params] for model in models]
    first_layers = [model.weights[0] for model in models]
    together = diagnose(models, x, y)
    for model, labels, row, params, first in zip(models, y, together, before, first_layers):
        (alone,) = diagnose([model], x, [labels])
        assert row.keys() == alone.keys()
        assert [row[key] for key in row] == pytest.approx([alone[key] for key in row], rel=1e-12, nan_ok=True)
        _, grad_w, _ = model.loss_and_gradients(x, labels)
        assert [alone[f"grad{l}_norm"] for l in (1, 2)] == [float(np.linalg.norm(g)) for g in grad_w]
        assert model.weights[0] is first and all(np.array_equal(p, q) for p, q in zip(model.params, params))
    assert together[1]["h1_saturated"] > together[0]["h1_saturated"]  # the larger initial scale saturates more


def test_one_vs_all_task_learns_with_both_losses(compose_config, tmp_path) -> None:
    for loss in ("cross_entropy", "mse"):
        cfg = compose_config(
            [
                "data=digits",
                "task=one_vs_all",
                "positive_class=5",
                f"loss={loss}",
                "hidden=[]",
                "batch_size=full",
                "epochs=200",
                "lr=1.0",
                "diagnostics=false",
            ]
        )
        summary = execute(settings_of(cfg), tmp_path / loss)
        assert summary.layer_sizes == [64, 1]
        assert summary.test_acc > 0.95, (loss, summary.test_acc)


def test_input_scaling_modes() -> None:
    raw = load_dataset(DataConfig(name="digits", loader="digits", scaling="raw"))
    assert raw.x_train.max() == 16.0
    standard = load_dataset(DataConfig(name="digits", loader="digits", scaling="standard"))
    assert np.abs(standard.x_train.mean(axis=0)).max() < 1e-5
    constant = standard.x_train.std(axis=0) < 1e-6  # e.g. always-black corner pixels stay 0
    assert np.allclose(standard.x_train.std(axis=0)[~constant], 1.0, atol=1e-4)
    unit = load_dataset(DataConfig(name="digits", loader="digits"))
    np.testing.assert_array_equal(unit.y_test, standard.y_test)


def test_saved_model_is_evaluated_and_predicts_like_the_run(compose_config, tmp_path, capsys) -> None:
    cfg = compose_config(
        ["data=digits", "epochs=3", "hidden=32", "activation=relu", "save_model=true", "data.scaling=standard"]
    )
    summary = execute(settings_of(cfg), tmp_path)
    assert predict_main([str(tmp_path), "--split", "test"]) == 0
    assert f"accuracy {100 * summary.test_acc:.2f}% on {summary.n_test} images" in capsys.readouterr().out
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    np.save(tmp_path / "digits.npy", images[:20])
    assert predict_main([str(tmp_path), "--images", str(tmp_path / "digits.npy")]) == 0
    predicted = [int(line.rsplit(": ", 1)[1]) for line in capsys.readouterr().out.splitlines()]
    assert len(predicted) == 20 and np.mean(np.array(predicted) == labels[:20]) > 0.7
    assert predict_main([str(tmp_path / "nowhere")]) == 2
    assert "has no model.npz; train with save_model=true" in capsys.readouterr().err


def test_seed_band_is_the_t_interval_per_epoch() -> None:
    from nnexp.report.figures import seed_band

    cell = pd.DataFrame({"epoch": [1, 1, 1, 2, 2, 2, 3, 3], "val_acc": [0.5, 0.6, 0.7, 0.8, 0.8, 0.8, 0.9, None]})
    band = seed_band(cell, "val_acc", scale=100)
    mean, half, _ = t_interval([50.0, 60.0, 70.0])
    assert band.loc[1, "mean"] == pytest.approx(mean)
    assert band.loc[1, "high"] - band.loc[1, "low"] == pytest.approx(2 * half)
    assert band.loc[2, "low"] == band.loc[2, "high"] == pytest.approx(80.0)
    assert band.loc[3, "low"] == band.loc[3, "high"] == pytest.approx(90.0)  # one value (the other missing): no band


@pytest.mark.parametrize("data", ["digits", "mnist", "mixed"])
def test_a_published_table_set_beside_runs_on_another_data_set_draws_one_warning(tmp_path, caplog, data) -> None:
    published = ROOT / "experiments" / "000_table1_test_accuracy.csv"
    for hidden in (32, 64):
        on = "mnist" if data == "mixed" and hidden == 32 else data.replace("mixed", "digits")
        config = {"activation": "sigmoid", "hidden": hidden, "lr": 0.1, "data": {"name": on}}
        write_finished_run(tmp_path / "sweep" / f"hidden={hidden}", config, [0.9, 0.95], [0.88, 0.94])
    with caplog.at_level("WARNING"):
        index = build_report(tmp_path / "sweep", tmp_path / "report", published=[published])
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "published" in r.getMessage()]
    compared = pd.read_csv(tmp_path / "report" / "published_000_table1_test_accuracy.csv").dropna(subset=["ours"])
    assert list(tmp_path.joinpath("report").glob("*_heatmap.png")) == []  # a table of one column: no heatmap
    said = "the published values of 000, Table 1 were measured on mnist"
    if data == "mnist":
        assert warnings == [] and "measured on" not in index.read_text() and list(compared["hidden"]) == [32, 64]
    elif data == "mixed":  # only the runs on MNIST are compared
        assert warnings == [f"warning: {said}: 1 run on digits left out of the comparison"]
        assert list(compared["hidden"]) == [32]
    else:
        assert warnings == [
            f"warning: {said}; these runs trained on digits: the comparison says nothing about the write-up"
        ]
        assert f"Warning: {said}; these runs trained on digits" in index.read_text()  # above the comparison
