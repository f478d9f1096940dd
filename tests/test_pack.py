"""Packs: runs trained together as one stacked model write what each writes alone.

Tolerance: a member's first-layer products are sums of the same terms in another order (one matrix product over
all members' columns), which moves a float32 sum by about sqrt(n) roundoffs of the sum of its absolute terms
(docs/packs.md). Parameters are compared to TOLERANCE = 8 u (sqrt(m) + sqrt(n_0)) of the member's largest
|parameter| (u = 2^-24; m training rows, n_0 inputs) and losses to the same relative tolerance, after 10 epochs;
accuracies to one sample (an argmax tie may flip).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import signal
from dataclasses import replace

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from nnexp.console import EPOCH_LINE, SWEEP_LINE, a_sweep_line
from nnexp.data import DataConfig, PackData, load_dataset
from nnexp.data.splits import split_indices
from nnexp.errors import ConfigError
from nnexp.model import MLP
from nnexp.model.loss import n_outputs
from nnexp.model.pack import Pack
from nnexp.optim import OPTIMIZERS, SCHEDULES
from nnexp.results import RunStatus, read_summary
from nnexp.results.files import finished_summary
from nnexp.results.plan_file import MemoryEstimate, PlannedJob
from nnexp.sweep.pack_job import member_logs, unforced
from nnexp.sweep.packing import MAX_HIDDEN_MEMBERS, form_packs
from nnexp.training import Method
from nnexp.training.checkpoint import CHECKPOINT_FILE, Checkpointer, load_checkpoint
from nnexp.training.interrupt import Interrupted, stop_on_signals
from nnexp.training.job import execute_pack
from nnexp.training.loop import Member, train, train_pack
from nnexp.training.memory import BASE_BYTES, check_fits, estimate_memory
from nnexp.training.seeding import seeded_start
from nnexp.training.spec import PACKED_FIRST_LAYER_UNITS, PackKey, RunSpec
from tests.conftest import make_idx_dataset, settings_of, write_finished_run

EPOCHS = 10
TIMINGS = ("epoch_seconds", "eval_seconds")


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(name="digits", loader="digits"))


@pytest.fixture(scope="module")
def binary(digits):
    return digits.one_vs_all(3)


def _tolerance(data, rows: int | None = None) -> float:
    return 8 * 2.0**-24 * (math.sqrt(rows or len(data.y_train)) + math.sqrt(data.x_train.shape[1]))


def _member(data, seed: int, method: Method, hidden=(16,), loss="cross_entropy", output="softmax", epochs=EPOCHS):
    outputs = 1 if len(np.unique(data.y_train)) == 2 else 10
    model = MLP.initialise(
        [data.x_train.shape[1], *hidden, outputs],
        "tanh",
        "xavier",
        np.random.default_rng(seed),
        np.float32,
        loss=loss,
        output=output,
    )
    rows: list[dict] = []
    member = Member(
        model, method, np.random.default_rng(seed + 1), np.random.default_rng(seed + 2), epochs, rows.append
    )
    return member, rows


def _alone_and_packed(data, specs):
    """Each (seed, method, kwargs) trained alone, and all of them as one pack: (member, rows, result) pairs."""
    alone = []
    for seed, method, kwargs in specs:
        member, rows = _member(data, seed, method, **kwargs)
        (result,) = train_pack([member], data, None)
        alone.append((member, rows, result))
    packed = [_member(data, seed, method, **kwargs) for seed, method, kwargs in specs]
    results = train_pack([member for member, _ in packed], data, None)
    return alone, [(member, rows, result) for (member, rows), result in zip(packed, results)]


def _assert_same(alone, packed, data, rows: int | None = None) -> None:
    """``rows``: the rows each product sums (a pool's; default the training split's)."""
    tolerance, n = (
        _tolerance(data, rows),
        {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)},
    )
    (member_a, rows_a, result_a), (member_p, rows_p, result_p) = alone, packed
    assert (result_p.status, result_p.epochs_completed, result_p.kept_epoch, result_p.stop_reason) == (
        result_a.status,
        result_a.epochs_completed,
        result_a.kept_epoch,
        result_a.stop_reason,
    )
    assert len(rows_p) == len(rows_a)
    for row_a, row_p in zip(rows_a, rows_p):
        assert set(row_a) == set(row_p)
        for split, size in n.items():
            assert row_p[f"{split}_loss"] == pytest.approx(row_a[f"{split}_loss"], rel=tolerance)
            assert abs(row_p[f"{split}_acc"] - row_a[f"{split}_acc"]) <= 1 / size + 1e-12
        assert row_p["learning_rate"] == row_a["learning_rate"]
        for norm in (key for key in row_a if key.endswith("_norm")):  # diagnostics on the same probe images
            assert row_p[norm] == pytest.approx(row_a[norm], rel=tolerance)
    for ours, theirs in zip(member_p.model.params, member_a.model.params):
        scale = max(float(np.abs(theirs).max()), max(float(np.abs(p).max()) for p in member_a.model.params))
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=tolerance * scale)


OPTIMIZER_LR = {"sgd": 0.5, "momentum": 0.2, "nesterov": 0.2, "adam": 0.01, "rmsprop": 0.005}


@pytest.mark.parametrize("hidden", [(16,), (), (12, 8)], ids=["one-hidden", "no-hidden", "two-hidden"])
def test_every_optimizer_and_schedule_in_one_pack_trains_as_alone(digits, hidden) -> None:
    specs = [
        (seed, Method(lr=OPTIMIZER_LR[name], optimizer=name, lr_schedule=schedule), {"hidden": hidden})
        for seed, (name, schedule) in enumerate(zip(sorted(OPTIMIZERS) * 2, sorted(SCHEDULES) * 2))
    ]
    assert {m.optimizer for _, m, _ in specs} == set(OPTIMIZERS) and {m.lr_schedule for _, m, _ in specs} == set(
        SCHEDULES
    )
    for alone, packed in zip(*_alone_and_packed(digits, specs)):
        _assert_same(alone, packed, digits)


@pytest.mark.parametrize("hidden", [(16,), ()], ids=["one-hidden", "no-hidden"])
def test_every_loss_and_output_in_one_pack_trains_as_alone(digits, binary, hidden) -> None:
    multiclass = [
        (0, Method(lr=0.5), {"hidden": hidden, "output": "softmax"}),
        (1, Method(lr=0.5), {"hidden": hidden, "output": "sigmoid"}),
        (2, Method(lr=2.0), {"hidden": hidden, "output": "sigmoid", "loss": "mse"}),
    ]
    for alone, packed in zip(*_alone_and_packed(digits, multiclass)):
        _assert_same(alone, packed, digits)
    one_unit = [(3, Method(lr=0.5), {"hidden": hidden}), (4, Method(lr=2.0), {"hidden": hidden, "loss": "mse"})]
    for alone, packed in zip(*_alone_and_packed(binary, one_unit)):
        _assert_same(alone, packed, binary)


def test_weight_decay_and_dropout_in_one_pack_train_as_alone(digits) -> None:
    specs = [
        (0, Method(lr=0.5, weight_decay=1e-3), {}),
        (1, Method(lr=0.5, dropout=0.3), {}),
        (2, Method(lr=0.1, optimizer="momentum", dropout=0.2, weight_decay=1e-4), {"hidden": (16,)}),
        (3, Method(lr=0.5), {}),
    ]
    for alone, packed in zip(*_alone_and_packed(digits, specs)):
        _assert_same(alone, packed, digits)


def test_a_member_that_diverges_or_stops_early_leaves_the_others_as_alone(digits) -> None:
    specs = [
        (0, Method(lr=1e45), {}),  # overflows in its first step
        (1, Method(lr=0.5, patience=1, stop_metric="val_acc", min_delta=0.5), {}),  # stops at epoch 2
        (2, Method(lr=0.5), {}),
        (3, Method(lr=0.5), {"epochs": 4}),  # ends before the others
    ]
    alone, packed = _alone_and_packed(digits, specs)
    statuses = [(result.status, result.epochs_completed) for _, _, result in packed]
    assert statuses == [
        (RunStatus.diverged, 1),
        (RunStatus.completed, 2),
        (RunStatus.completed, 10),
        (RunStatus.completed, 4),
    ]
    assert packed[1][2].stop_reason and packed[1][2].kept_epoch == 1
    for one_alone, one_packed in zip(alone, packed):
        if one_alone[2].status is RunStatus.diverged:
            assert not np.isfinite(one_packed[1][-1]["train_loss"])
            continue
        _assert_same(one_alone, one_packed, digits)


def test_a_member_whose_own_part_fails_ends_alone_and_the_others_go_on(digits) -> None:
    members = [_member(digits, seed, Method(lr=0.5)) for seed in range(3)]
    failing, rows = members[1]

    def full_disk(row: dict) -> None:
        if row["epoch"] == 3:
            raise OSError(28, "No space left on device")
        rows.append(row)

    failing.on_epoch = full_disk
    results = train_pack([member for member, _ in members], digits, None)
    assert [result.status for result in results] == [RunStatus.completed, RunStatus.failed, RunStatus.completed]
    assert isinstance(results[1].error, OSError) and len(rows) == 2
    alone, alone_rows = _member(digits, 2, Method(lr=0.5))
    (alone_result,) = train_pack([alone], digits, None)
    _assert_same((alone, alone_rows, alone_result), (members[2][0], members[2][1], results[2]), digits)


@pytest.mark.parametrize("layout", ["one-split", "pool"])
def test_a_pack_stopped_by_a_signal_resumes_to_the_same_result(digits, images, tmp_path, layout) -> None:
    """SIGTERM to this process after epoch 3: every member saved its checkpoint, and the pack resumed from them
    ends bit for bit as the pack never stopped; members on one split, or on three splits in a pool."""
    if layout == "pool":
        splits = [_split(images, seed, 3) for seed in range(3)]
        own, data = [split for split, _ in splits], PackData.pooling(*zip(*splits))
        network = {"hidden": (), "output": "sigmoid"}
        methods = [Method(lr=0.005), Method(lr=0.001, optimizer="adam"), Method(lr=0.002, optimizer="momentum")]
    else:
        own, data, network = [digits] * 3, digits, {}
        methods = [Method(lr=0.5), Method(lr=0.01, optimizer="adam"), Method(lr=0.2, optimizer="momentum")]
    methods[2] = replace(methods[2], patience=3)

    def pack(members, checkpointed: bool, resume: bool = False, stop_at: int | None = None):
        members.extend(_member(own[seed], seed, method, **network) for seed, method in enumerate(methods))
        for j, (member, rows) in enumerate(members):
            if checkpointed:
                member.checkpoints = Checkpointer(tmp_path / f"{j}{CHECKPOINT_FILE}", "fp")
            if resume:
                member.resume = load_checkpoint(tmp_path / f"{j}{CHECKPOINT_FILE}", "fp")
                rows.extend(kept[j][: member.resume.epoch])
        if stop_at is not None:
            first = members[0][0]
            write = first.on_epoch

            def signal_after(row: dict) -> None:
                write(row)
                if row["epoch"] == stop_at:
                    os.kill(os.getpid(), signal.SIGTERM)

            first.on_epoch = signal_after
        with stop_on_signals():
            results = train_pack([member for member, _ in members], data, None)
        return members, results

    reference, reference_results = pack([], False)
    stopped: list = []
    with pytest.raises(Interrupted):
        pack(stopped, True, stop_at=3)
    kept = [rows for _, rows in stopped]
    assert all(load_checkpoint(tmp_path / f"{j}{CHECKPOINT_FILE}", "fp").epoch == 3 for j in range(3))
    resumed, results = pack([], True, resume=True)
    for (member, rows), result, (ref_member, ref_rows), ref_result in zip(
        resumed, results, reference, reference_results
    ):
        assert [{k: v for k, v in r.items() if k not in TIMINGS} for r in rows] == [
            {k: v for k, v in r.items() if k not in TIMINGS} for r in ref_rows
        ]
        assert (result.status, result.epochs_completed, result.kept_epoch) == (
            ref_result.status,
            ref_result.epochs_completed,
            ref_result.kept_epoch,
        )
        for ours, theirs in zip(member.model.params, ref_member.model.params):
            np.testing.assert_array_equal(ours, theirs)


N_IMAGES = 1600  # more training images than the diagnostics probe (1000) after the validation split


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A data set whose training images are its files' whatever the split seed (unlike the digits, whose test set
    is drawn with it): 1,600 MNIST-shaped training images, 100 test images."""
    folder = tmp_path_factory.mktemp("images")
    make_idx_dataset(folder, n_train=N_IMAGES, n_test=100)
    return folder


def _split(folder, seed: int, positive_class: int | None = None, train_limit: int | None = None):
    """The split of ``seed`` of the data set in ``folder`` (one-vs-all ``positive_class`` if given), and its images'
    positions among the training images."""
    cfg = DataConfig(name="images", root=str(folder), split_seed=seed, val_size=0.25, train_limit=train_limit)
    data = load_dataset(cfg)
    positions = split_indices(N_IMAGES, cfg.val_size, train_limit, seed)
    return (data if positive_class is None else data.one_vs_all(positive_class)), positions


def test_a_pool_holds_each_members_images_once_and_its_rows_are_its_split(images) -> None:
    """Each member's training and validation rows of the pool are its split's images and labels, in the files'
    order; images no member uses are not in the pool (a train_limit)."""
    splits = [_split(images, seed, cls, limit) for seed, cls, limit in ((0, 3, None), (1, 5, None), (2, None, 100))]
    pool = PackData.pooling([data for data, _ in splits], [positions for _, positions in splits])
    assert pool.pooled and len(pool.x) == N_IMAGES  # the first split holds every training image
    for (data, (val, training)), own in zip(splits, pool.members):
        for x, y, places, rows, labels in (
            (data.x_train, data.y_train, training, own.train_rows, own.y_train),
            (data.x_val, data.y_val, val, own.val_rows, own.y_val),
        ):
            order = np.argsort(places)  # the files' order
            np.testing.assert_array_equal(pool.x[rows], x[order])
            np.testing.assert_array_equal(labels, y[order])
            assert np.all(np.diff(rows) > 0)
        np.testing.assert_array_equal(own.y_test, data.y_test)
    small = [_split(images, seed, None, 50) for seed in (0, 1)]
    only = PackData.pooling([data for data, _ in small], [positions for _, positions in small])
    used = {int(i) for _, (val, training) in small for i in (*val, *training)}
    assert len(only.x) == len(used) < N_IMAGES
    for (data, (_, training)), own in zip(small, only.members):
        np.testing.assert_array_equal(only.x[own.train_rows], data.x_train[np.argsort(training)])


@pytest.mark.parametrize("outputs", ["one-unit", "ten-classes"])
def test_members_on_other_splits_and_classes_train_in_a_pool_as_alone(images, outputs) -> None:
    """Runs without a hidden layer on other splits (split seeds) and classes of one data set, with every optimizer,
    both losses, schedules, weight decay, early stopping, a diverging one and a shorter one: trained as one pool
    (their training rows summed among the pool's, their validation metrics from its forward pass) each writes what
    it writes alone, to float32 rounding of sums over the pool's rows."""
    binary = outputs == "one-unit"
    # learning rates well inside the stable range of 784 inputs in [0, 1] (|x|^2 ~ 260), where rounding differences
    # do not grow (at lr 0.5 plain SGD oscillates and a roundoff grows to 2e-5 of the weights in 10 epochs)
    settings = [  # split seed, positive class, method, network
        (0, 3, Method(lr=0.005), {}),
        (1, 5, Method(lr=0.02, optimizer="momentum"), {"loss": "mse"}),
        (2, 3, Method(lr=0.01, optimizer="adam", weight_decay=1e-3), {}),
        (3, 8, Method(lr=0.001, optimizer="rmsprop", lr_schedule="cosine"), {"epochs": 4}),
        (4, 3, Method(lr=0.002, optimizer="nesterov", patience=1, stop_metric="val_acc", min_delta=0.5), {}),
        (5, 5, Method(lr=1e45), {}),  # overflows in its first step
    ]
    splits, alone, packed = [], [], []
    for seed, positive_class, method, kwargs in settings:
        data, positions = _split(images, seed, positive_class if binary else None)
        kwargs = {"hidden": (), "output": "sigmoid" if binary or "loss" in kwargs else "softmax", **kwargs}
        member, rows = _member(data, seed, method, **kwargs)
        member.diagnostics = True
        (result,) = train_pack([member], data, None)
        alone.append((member, rows, result))
        packed.append(_member(data, seed, method, **kwargs))
        packed[-1][0].diagnostics = True
        splits.append((data, positions))
    pool = PackData.pooling([data for data, _ in splits], [positions for _, positions in splits])
    results = train_pack([member for member, _ in packed], pool, None)
    statuses = [(result.status, result.epochs_completed) for result in results]
    assert statuses[3:] == [(RunStatus.completed, 4), (RunStatus.completed, 2), (RunStatus.diverged, 1)]
    for (data, _), one_alone, (member, rows), result in zip(splits, alone, packed, results):
        assert result.samples_seen == result.epochs_completed * len(data.y_train)
        if one_alone[2].status is RunStatus.diverged:
            assert result.status is RunStatus.diverged and not np.isfinite(rows[-1]["train_loss"])
            continue
        _assert_same(one_alone, (member, rows, result), data, rows=len(pool.x))


def test_a_pool_trains_members_without_hidden_layers_full_batch_only(images) -> None:
    splits = [_split(images, seed, 3) for seed in (0, 1)]
    pool = PackData.pooling([data for data, _ in splits], [positions for _, positions in splits])
    hidden = [_member(data, seed, Method(lr=0.5), hidden=(8,))[0] for seed, (data, _) in enumerate(splits)]
    with pytest.raises(ValueError, match="without hidden layers"):
        train_pack(hidden, pool, None)
    flat = [
        _member(data, seed, Method(lr=0.5), hidden=(), output="sigmoid")[0] for seed, (data, _) in enumerate(splits)
    ]
    with pytest.raises(ValueError, match="full batch only"):
        train_pack(flat, pool, 64)


def _spec(compose_config, folder, *overrides: str) -> RunSpec:
    base = [f"data.root={folder}", "hidden=[]", "batch_size=full", "task=one_vs_all", "data.val_size=0.25"]
    return RunSpec.from_settings(settings_of(compose_config([*base, *overrides])))


def test_runs_without_hidden_layers_on_other_splits_and_classes_share_a_pool_key(compose_config, images) -> None:
    """Runs without a hidden layer that differ in split seed, positive class, loss and learning rate pack as one
    pool; with a hidden layer, standardised features (fitted on each split), dropout or the digits (whose test set is
    drawn with the split seed, so that their training images differ), each split and class packs apart."""
    pooled = _spec(compose_config, images, "data.split_seed=0", "positive_class=3")
    pool = pooled.pack_key
    assert pool.pooled
    alone = _spec(compose_config, images, "data.split_seed=0", "positive_class=3", "pack=false")
    # its share of the pool's buffers over every image: logits, the same member by member, deltas (one output)
    assert estimate_memory(pooled).private - estimate_memory(alone).private == 3 * N_IMAGES * 1 * 4
    for other in (("data.split_seed=1", "positive_class=5"), ("data.split_seed=2", "loss=mse", "lr=2")):
        assert _spec(compose_config, images, *other).pack_key == pool
    for apart in (("hidden=[8]",), ("data.scaling=standard",), ("dropout=0.2",)):
        first = _spec(compose_config, images, *apart).pack_key
        second = _spec(compose_config, images, "data.split_seed=1", *apart).pack_key
        assert first != second and not first.pooled and first != pool
    digits = [_spec(compose_config, images, "data=digits", f"data.split_seed={seed}").pack_key for seed in (0, 1)]
    assert digits[0] != digits[1] and not digits[0].pooled


def test_only_runs_whose_first_layer_is_narrow_enough_to_gain_pack(compose_config, images) -> None:
    """Full-batch runs on one split pack without hidden layers and with a first hidden layer of at most
    PACKED_FIRST_LAYER_UNITS units (wider ones are compute-bound: a pack would not be faster), whatever follows it."""
    keys = {
        hidden: _spec(compose_config, images, f"hidden={hidden}", "task=multiclass").pack_key
        for hidden in ("[]", f"[{PACKED_FIRST_LAYER_UNITS}]", f"[{PACKED_FIRST_LAYER_UNITS},64]")
    }
    assert all(keys.values()) and len(set(keys.values())) == 3
    for wider in (f"[{PACKED_FIRST_LAYER_UNITS + 1}]", "[64]", f"[64,{PACKED_FIRST_LAYER_UNITS}]"):
        assert _spec(compose_config, images, f"hidden={wider}", "task=multiclass").pack_key is None


def test_runs_of_other_splits_train_in_a_pool_in_their_folders_as_alone(
    compose_config, images, tmp_path, caplog
) -> None:
    """execute_pack with runs on two splits and two classes of one data set: one pool, each run's files in its
    folder with its own split's sizes, its metrics those of the run alone; the summary of a run whose images the
    pool read from another split's array cache entry names that entry too, and a damaged one makes it train again."""
    base = [f"data.root={images}", "hidden=[]", "batch_size=full", "task=one_vs_all", "data.val_size=0.25", "epochs=3"]
    settings = [
        settings_of(compose_config([*base, f"data.split_seed={seed}", f"positive_class={cls}", "lr=0.005"]))
        for seed, cls in ((0, 3), (1, 5), (2, 3))
    ]
    folders = [tmp_path / f"run{i}" for i in range(3)]
    with caplog.at_level(logging.INFO, logger="nnexp.run"):
        outcomes = execute_pack(settings, folders)
    assert sum("trained in a pack of 3 runs" in record.getMessage() for record in caplog.records) == 3
    for one, folder, outcome in zip(settings, folders, outcomes):
        (alone,) = execute_pack([one], [tmp_path / f"alone-{folder.name}"])
        assert outcome.status == alone.status == "completed"
        assert (outcome.n_train, outcome.n_val, outcome.n_test) == (1200, 400, 100)
        for metric in ("train_loss", "val_loss", "test_loss"):
            assert getattr(outcome, metric) == pytest.approx(getattr(alone, metric), rel=1e-5)
    first = outcomes[0].data_cache
    assert first and outcomes[0].pool_caches == [] and all(o.pool_caches == [first] for o in outcomes[1:])
    assert outcomes[1].data_cache not in (None, first)
    spec = RunSpec.from_settings(settings[1])
    assert finished_summary(folders[1], spec.fingerprint, set()) is not None
    assert finished_summary(folders[1], spec.fingerprint, {first}) is None  # the pool's source found damaged


def test_a_run_alone_takes_its_training_rows_in_its_data_order(compose_config, tmp_path) -> None:
    """data.order=stored|sorted fix the order of a run's mini-batches: a run alone, as the job trains it, ends as
    training on its split (with that order) does, and the three orders end apart."""
    finals = {}
    for order in ("shuffled", "stored", "sorted"):
        overrides = ["data=digits", "batch_size=32", "epochs=2", "hidden=[8]", f"data.order={order}"]
        settings = settings_of(compose_config(overrides))
        (summary,) = execute_pack([settings], [tmp_path / order])
        spec = RunSpec.from_settings(settings)
        data = load_dataset(spec.data)
        model, shuffle_rng, dropout_rng = seeded_start(spec, data.n_features, n_outputs(data.n_classes))
        rows: list[dict] = []
        with threadpool_limits(limits=1, user_api="blas"):
            train(
                model,
                data,
                epochs=2,
                batch_size=32,
                method=spec.method,
                rng=shuffle_rng,
                dropout_rng=dropout_rng,
                on_epoch=rows.append,
            )
        assert summary.train_loss == rows[-1]["train_loss"]
        finals[order] = summary.train_loss
    assert len(set(finals.values())) == 3


def test_a_pack_of_one_is_its_network_and_others_must_match() -> None:
    rng = np.random.default_rng(0)
    model = MLP.initialise([5, 4, 3], "relu", "he", rng, np.float32)
    weight = model.weights[0]
    pack = Pack([model])
    assert pack.weight is weight and model.weights[0] is weight  # no copy, no view: its own arrays
    other = MLP.initialise([5, 4, 3], "tanh", "he", rng, np.float32)
    with pytest.raises(ValueError, match="hidden activation"):
        Pack([MLP.initialise([5, 4, 3], "relu", "he", rng, np.float32), other])
    with pytest.raises(ValueError, match="layer sizes"):
        Pack([model, MLP.initialise([5, 6, 3], "relu", "he", rng, np.float32)])


def test_a_pack_trains_full_batch_only(digits) -> None:
    members = [_member(digits, seed, Method(lr=0.5))[0] for seed in range(2)]
    with pytest.raises(ValueError, match="full batch only"):
        train_pack(members, digits, 64)


def _key(hidden: tuple[int, ...]) -> PackKey:
    activation = ("tanh", 0.01) if hidden else None
    return PackKey("data", "digest", ("multiclass", None), "float32", hidden, activation, 1, pooled=not hidden)


def _jobs(count: int, work: float = 1.0, **fields) -> list[PlannedJob]:
    return [PlannedJob((f"seed={i}",), f"seed={i}", f"fp{i}", work=work + i, **fields) for i in range(count)]


@pytest.mark.parametrize(
    ("count", "hidden", "workers", "sizes"),
    [(80, (), 2, [40, 40]), (12, (16,), 2, [6, 6]), (24, (16,), 2, [6, 6, 6, 6]), (5, (), 8, [1] * 5), (3, (), 1, [3])],
)
def test_the_plan_packs_runs_that_share_a_key(count, hidden, workers, sizes) -> None:
    jobs = _jobs(count)
    key = _key(hidden)
    packed = form_packs(jobs, [key] * count, workers)
    leaders = [job for job in packed if job.pack]
    assert sorted((len(job.pack) + 1 for job in leaders), reverse=True) == [size for size in sizes if size > 1]
    assert all(len(job.pack) + 1 <= MAX_HIDDEN_MEMBERS for job in leaders) or not hidden
    members = {folder: job.dir for job in leaders for folder in job.pack}
    assert {job.dir: job.packed_by for job in packed if job.packed_by} == members
    assert all(job.work == 0.0 for job in packed if job.packed_by)
    total = sum(job.work for job in jobs)
    assert sum(job.work for job in packed) == pytest.approx(total)  # a leader's work is its pack's
    assert all(
        jobs.index(next(j for j in jobs if j.dir == job.dir)) < jobs.index(next(j for j in jobs if j.dir == m))
        for job in leaders
        for m in job.pack
    )


def test_the_plan_packs_neither_runs_without_a_key_nor_runs_that_do_not_run() -> None:
    jobs = _jobs(4)
    jobs[1] = jobs[1].skipped()
    key = _key(())
    packed = form_packs(jobs, [key, key, None, key], 1)
    assert packed[0].pack == (jobs[3].dir,) and packed[3].packed_by == jobs[0].dir
    assert not packed[1].pack and not packed[1].packed_by and not packed[2].pack and not packed[2].packed_by


def test_execute_pack_writes_each_runs_files_and_a_bad_run_fails_alone(compose_config, tmp_path, caplog) -> None:
    """A pack of three in their folders: one with a value outside its domain fails (recorded in its folder), the
    others train together; and a folder holding another configuration's result is refused, untouched."""
    base = ["data=digits", "hidden=16", "batch_size=full", "epochs=3"]  # 16 units: narrow enough to pack
    good = [settings_of(compose_config([*base, f"lr={lr}"])) for lr in (0.5, 1)]
    bad = replace(good[0], epochs=0)
    folders = [tmp_path / name for name in ("a", "b", "c")]
    with caplog.at_level(logging.INFO, logger="nnexp.run"):
        outcomes = execute_pack([good[0], bad, good[1]], folders)
    assert sum("trained in a pack of 2 runs" in record.getMessage() for record in caplog.records) == 2
    assert isinstance(outcomes[1], Exception) and "epochs" in str(outcomes[1])
    assert read_summary(folders[1] / "summary.json")["status"] == "failed"
    for folder, outcome in zip((folders[0], folders[2]), (outcomes[0], outcomes[2])):
        summary = read_summary(folder / "summary.json")
        assert summary["status"] == outcome.status == "completed" and summary["epochs_completed"] == 3
        assert (folder / "metrics.csv").read_text().count("\n") == 4
    alone = tmp_path / "alone"
    (reference,) = execute_pack([good[1]], [alone])
    assert reference.test_acc == pytest.approx(outcomes[2].test_acc, abs=1 / 360)
    before = (folders[0] / "summary.json").read_bytes()
    again = execute_pack([good[1], good[0]], [folders[0], tmp_path / "d"])  # a's folder holds lr=0.5's result
    assert isinstance(again[0], Exception) and "another configuration" in str(again[0])
    assert (folders[0] / "summary.json").read_bytes() == before
    assert again[1].status == "completed"
    assert not any((folder / CHECKPOINT_FILE).exists() for folder in folders)


def test_runs_of_two_classes_make_one_pack_each_when_that_fills_the_workers() -> None:
    """w003_single_neuron: 40 runs per positive class, 2 workers: one pack of 40 per class (larger packs cost less
    a member); with 4 workers each is split in two."""
    jobs = _jobs(80)
    keys = [_key(())._replace(labels=("one_vs_all", 0 if i < 40 else 5)) for i in range(80)]
    for workers, sizes in ((2, [40, 40]), (4, [20, 20, 20, 20])):
        leaders = [job for job in form_packs(jobs, keys, workers) if job.pack]
        assert sorted(len(job.pack) + 1 for job in leaders) == sizes
        assert all({int(m.split("=")[1]) < 40 for m in (job.dir, *job.pack)} in ({True}, {False}) for job in leaders)


def test_a_members_lines_go_to_its_own_log_and_its_warnings_to_the_console_as_alone(tmp_path) -> None:
    """The leader's job in a sweep: a member's every line goes to its own log file and none to the leader's; the
    console shows of it what its own job's console would (warnings, errors, sweep lines: quiet_console), and the
    leader's handlers stay as they were."""
    root = logging.getLogger()
    console_text = io.StringIO()
    console, leader_file = logging.StreamHandler(console_text), logging.FileHandler(tmp_path / "leader.log")
    console.addFilter(a_sweep_line)
    saved = root.handlers[:], root.level
    root.handlers[:] = [console, leader_file]
    root.setLevel(logging.INFO)
    try:
        with member_logs([tmp_path / "m" / "run.log"]) as (member_log,):
            member_log.info("epoch 1/2", extra=EPOCH_LINE)
            member_log.info("resuming m from epoch 2", extra=SWEEP_LINE)
            member_log.warning("train_loss is nan at epoch 2: run diverged, stopping")
        assert root.handlers == [console, leader_file] and not member_log.handlers
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        leader_file.close()
    assert console_text.getvalue().splitlines() == [
        "resuming m from epoch 2",
        "train_loss is nan at epoch 2: run diverged, stopping",
    ]
    assert (tmp_path / "m" / "run.log").read_text().splitlines() == [
        "epoch 1/2",
        "resuming m from epoch 2",
        "train_loss is nan at epoch 2: run diverged, stopping",
    ]
    assert (tmp_path / "leader.log").read_text() == ""


def test_a_packs_leader_plans_the_memory_of_its_whole_pack() -> None:
    """A pack trains in its leader's process: the sweep's memory check counts each member's own arrays there, the
    interpreter and the shared data once (nnexp.training.memory.pack_memory: measured on MNIST)."""
    mib = 2**20
    jobs = _jobs(4, memory=MemoryEstimate(private=BASE_BYTES + 600 * mib, shared=200 * mib))
    packed = form_packs(jobs, [_key((1024,))] * 4, 1)
    assert packed[0].pack and packed[0].memory == MemoryEstimate(private=BASE_BYTES + 2400 * mib, shared=200 * mib)
    assert [job.memory for job in packed[1:]] == [job.memory for job in jobs[1:]]  # each trains alone if need be
    with pytest.raises(ConfigError, match="not enough memory"):
        check_fits({job.dir: job.memory for job in packed}, at_once=1, available=BASE_BYTES + 2000 * mib)


def test_a_forced_member_is_not_trained_again_after_its_leader_but_is_when_its_result_is_older(
    compose_config, tmp_path
) -> None:
    """force=true: a member's own job keeps the result its leader started in this sweep, and trains again one from
    before the sweep (its leader died before reaching it)."""
    settings = replace(settings_of(compose_config(["data=digits"])), force=True)
    folder = tmp_path / "member"
    write_finished_run(folder, {}, [0.5], [0.5])
    summary = json.loads((folder / "summary.json").read_text())
    for started, forced in (("2026-12-03T10:00:00.000+00:00", True), ("2026-12-03T12:00:01.500+00:00", False)):
        (folder / "summary.json").write_text(json.dumps({**summary, "started": started}))
        assert unforced(settings, folder, "2026-12-03T12:00:00+00:00").force is forced
    assert unforced(settings, tmp_path / "empty", "2026-12-03T12:00:00+00:00").force is True
    assert unforced(replace(settings, force=False), folder, "2026-12-03T12:00:00+00:00").force is False
