"""The sweep plan composes each job exactly as Hydra would, merging config groups once per choice."""

from __future__ import annotations

import json
import re

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from nnexp.command_line import COMPOSE_OPTIONS, GRID_SWEEPER_CHOICE, register_configs
from nnexp.results.plan_file import PLAN_FILE, PlannedJob, read_plan
from nnexp.sweep.naming import override_dirname
from nnexp.sweep.plan import merge_plan, plan_version
from nnexp.sweep.planning import JobComposer, estimated_work, plan_sweep
from nnexp.training import RunSpec
from tests.conftest import CONF_DIR, make_idx_dataset, settings_of

HYDRA_OVERRIDES = ["hydra.launcher.n_jobs=2", "hydra.sweep.dir=multirun/plan_test"]
# (key, values) pairs a grid can vary: plain values, a list value, config groups and an experiment
VARIED = {
    "activation": ["sigmoid", "relu", "tanh"],
    "hidden": ["32", "[128,64]", "[]"],
    "lr": ["0.05", "1e-3"],
    "seed": ["0", "7"],
    "blas_threads": ["1"],  # left out of the folder name
    "data": ["digits", "fashion_mnist"],
    "data.root": ["/data/x"],
    "+experiment": ["w000_tables"],
    "report.enabled": ["false"],
}


@pytest.fixture
def hydra_app():
    """Hydra initialised on the project's config tree, as in ``python -m nnexp.run``."""
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), **COMPOSE_OPTIONS):
        yield
    GlobalHydra.instance().clear()


def _composer() -> JobComposer:
    return JobComposer(compose("config", overrides=HYDRA_OVERRIDES, return_hydra_config=True))


def _as_hydra_composes(job: list[str]):
    return compose("config", overrides=HYDRA_OVERRIDES + job)


def _ours(composer: JobComposer, job: list[str]):
    return composer.compose(composer.parse(job))


def _same(a, b) -> bool:
    return OmegaConf.to_container(a, resolve=False) == OmegaConf.to_container(b, resolve=False)


def test_a_grid_of_values_is_composed_as_hydra_composes_it_with_one_merge(hydra_app) -> None:
    composer = _composer()
    grid = [
        [f"activation={a}", f"hidden={h}", "data=digits", "blas_threads=1"]
        for a in ("sigmoid", "relu")
        for h in ("32", "[128,64]")
    ]
    for job in grid:
        assert _same(_ours(composer, job), _as_hydra_composes(job))
        assert override_dirname(composer.parse(job)) == ",".join(sorted(o for o in job if not o.startswith("blas")))
    # merged once for the one set of config-group choices (the config given names the config groups)
    assert sorted(composer._templates) == [("data=digits",)]
    # the merged template is not changed by the jobs composed from it
    assert _same(_ours(composer, ["data=digits"]), _as_hydra_composes(["data=digits"]))


@pytest.mark.parametrize(
    ("command", "merged"),
    [
        (["data=digits", "hidden=16,32", "lr=0.3"], 0),  # values swept: the sweep's own config is every job's start
        (["+experiment=w000_tables", "data=digits", "epochs=1", "seed=0,1"], 0),  # with the groups a preset brings
        (["data=digits,fashion_mnist", "lr=0.3"], 2),  # a group swept: each of its choices merged once
        (["hidden=8", "activation=relu,tanh"], 0),  # no group chosen
    ],
)
def test_jobs_start_from_the_sweeps_own_config_and_compose_as_hydra_composes_them(hydra_app, command, merged) -> None:
    """Hydra composes the sweep's config for the command line without its sweeps: a job whose config-group choices
    are the command line's is composed from it (no merge of its own), any job as Hydra composes it."""
    from hydra.types import RunMode

    from nnexp.sweep.grid import grid_jobs

    loader = GlobalHydra.instance().config_loader()
    sweep = loader.load_configuration("config", HYDRA_OVERRIDES + command, run_mode=RunMode.MULTIRUN)
    composer = JobComposer(sweep)
    composer.start_from_sweep(sweep)
    seeded = set(composer._templates)
    jobs = grid_jobs(command)
    for job in jobs:
        assert _same(_ours(composer, job), _as_hydra_composes(job)), job
    assert len(seeded) == 1 and len(set(composer._templates) - seeded) == merged


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from(sorted(VARIED)), unique=True, max_size=5).flatmap(
        lambda keys: st.tuples(*[st.sampled_from(VARIED[k]).map(lambda v, k=k: f"{k}={v}") for k in keys])
    )
)
def test_any_job_is_composed_as_hydra_composes_it(hydra_app, job) -> None:
    assert _same(_ours(_composer(), list(job)), _as_hydra_composes(list(job)))


@pytest.mark.parametrize(
    "job",
    [["lr=0.5", "++lr=0.2"], ["++lr=0.2", "lr=0.5"], ["data.val_size=100", "data={val_size:200}"], ["+foo=1", "foo=2"]],
)
def test_edits_and_values_of_one_key_are_applied_in_their_order_as_hydra_does(hydra_app, job) -> None:
    try:
        expected = _as_hydra_composes(job)
    except ConfigCompositionException as hydra_says:
        with pytest.raises(ConfigCompositionException, match=re.escape(str(hydra_says))):
            _ours(_composer(), job)
        return
    assert _same(_ours(_composer(), job), expected)


@pytest.mark.parametrize("bad", ["epochs=abc", "no_such_key=1", "data.no_such_key=1", "data=no_such_data"])
def test_a_job_hydra_cannot_compose_fails_the_same_way(hydra_app, bad) -> None:
    with pytest.raises(Exception) as hydra_says:
        _as_hydra_composes(["activation=relu", bad])
    with pytest.raises(type(hydra_says.value)) as we_say:
        _ours(_composer(), ["activation=relu", bad])
    assert isinstance(we_say.value, ConfigCompositionException)  # MissingConfigException is one too
    assert str(we_say.value) == str(hydra_says.value)


def _work(*overrides: str) -> float | None:
    job = compose("config", overrides=list(overrides))
    return estimated_work(RunSpec.from_settings(settings_of(job)))


def test_estimated_work_grows_with_the_network_the_epochs_and_the_steps(hydra_app) -> None:
    base = ["data=digits", "epochs=2", "batch_size=64"]
    assert _work(*base, "hidden=64") > _work(*base, "hidden=32") > _work(*base, "hidden=[]")
    assert _work(*base, "hidden=[32,32]") > _work(*base, "hidden=32")
    assert _work(*base, "epochs=4") == pytest.approx(2 * _work(*base))
    assert _work(*base, "batch_size=1") > _work(*base)  # same FLOPs, 64 times the steps
    assert _work(*base, "data.train_limit=100") < _work(*base)


def test_estimated_work_reads_the_data_files_headers(hydra_app, tmp_path) -> None:
    make_idx_dataset(tmp_path / "small", n_train=100)
    make_idx_dataset(tmp_path / "large", n_train=200)
    small, large = (
        _work("data=mnist", f"data.root={tmp_path / size}", "hidden=256", "batch_size=full")
        for size in ("small", "large")
    )
    assert large == pytest.approx(2 * small, rel=0.05)  # twice the images (one step an epoch either way)
    # MNIST images have 784 pixels, digits 64: the same network, trained alike, costs more on MNIST
    same = ["hidden=16", "data.train_limit=90", "epochs=10", "batch_size=64"]  # data=digits sets its own
    assert _work("data=digits", *same) < _work("data=mnist", f"data.root={tmp_path / 'small'}", *same)


def test_no_estimated_work_before_the_data_is_downloaded(hydra_app, tmp_path) -> None:
    assert _work("data=mnist", f"data.cache_dir={tmp_path / 'empty'}") is None


def test_a_sweep_merges_its_plan_only_into_the_plan_it_planned_from(hydra_app, tmp_path) -> None:
    """Two sweeps planning into one folder at once, interleaved as a race would: the one that merges second finds the
    plan changed since it planned, writes nothing, and planned again gives its configuration another folder — never
    the folder the other sweep took for another configuration."""
    sweep_dir = tmp_path / "sweep"
    config = compose(
        "config",
        overrides=[GRID_SWEEPER_CHOICE, f"hydra.sweep.dir={sweep_dir}", "data=digits", "hidden=16"],
        return_hydra_config=True,
    )
    version = plan_version(sweep_dir)
    assert version is None  # no plan yet
    jobs = plan_sweep(config, sweep_dir)
    (job,) = jobs
    # meanwhile another sweep (say: other data under the same path) planned that folder for another configuration
    other = PlannedJob(job.overrides, job.dir, "0" * 64)
    assert merge_plan(sweep_dir, "2026-01-01T00:00:00+00:00", {}, [other], version)
    theirs = (sweep_dir / PLAN_FILE).read_bytes()
    assert not merge_plan(sweep_dir, "2026-01-01T00:00:01+00:00", {}, jobs, version)
    assert (sweep_dir / PLAN_FILE).read_bytes() == theirs  # nothing written
    version = plan_version(sweep_dir)
    (again,) = plan_sweep(config, sweep_dir)
    assert (again.dir, again.fingerprint) == (f"{job.dir}@{job.fingerprint[:8]}", job.fingerprint)
    assert merge_plan(sweep_dir, "2026-01-01T00:00:01+00:00", {}, [again], version)
    held = {folder: run.fingerprint for folder, run in read_plan(sweep_dir).runs.items()}
    assert held == {job.dir: "0" * 64, again.dir: job.fingerprint}


@pytest.mark.parametrize("summary", ['{"status": "weird", "fingerprint": "f00d"}', '{"status": "compl', "[]"])
def test_a_folder_whose_summary_cannot_be_read_is_planned_for_no_configuration(hydra_app, tmp_path, summary) -> None:
    """A summary nnexp cannot read (an unknown status, cut short, not an object) may hold a result it cannot verify:
    the run whose name the folder has goes to a folder of its own, and the files stay as they are."""
    sweep_dir = tmp_path / "sweep"
    config = compose(
        "config",
        overrides=[GRID_SWEEPER_CHOICE, f"hydra.sweep.dir={sweep_dir}", "data=digits", "hidden=16"],
        return_hydra_config=True,
    )
    (name,) = [job.dir for job in plan_sweep(config, sweep_dir)]
    (sweep_dir / name).mkdir(parents=True)
    (sweep_dir / name / "summary.json").write_text(summary)
    (job,) = plan_sweep(config, sweep_dir)
    assert job.dir == f"{name}@{job.fingerprint[:8]}" and job.runs
    assert (sweep_dir / name / "summary.json").read_text() == summary


def test_a_plan_whose_jobs_cannot_be_read_still_holds_its_run_folders(tmp_path) -> None:
    """An older or hand-edited plan: its jobs in a form nnexp does not write are none, its run folders still count."""
    record = {
        "started": "2026-01-01T00:00:00+00:00",
        "jobs": [{"dir": "hidden=8", "overrides": ["hidden=8"], "memory": 123}],  # memory as a number: not ours
        "runs": {"hidden=8": {"overrides": ["hidden=8"], "fingerprint": "f00d"}},
    }
    (tmp_path / PLAN_FILE).write_text(json.dumps(record))
    plan = read_plan(tmp_path)
    assert plan.jobs is None and plan.latest.started == record["started"]
    assert {folder: run.fingerprint for folder, run in plan.runs.items()} == {"hidden=8": "f00d"}
