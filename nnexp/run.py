"""Entry point of one training run: ``python -m nnexp.run [overrides]`` (add ``-m`` for a sweep).

Data flow: config (validated) -> data -> model -> training loop -> metrics.csv per
epoch -> summary.json, all in the run's Hydra output folder.
"""

from __future__ import annotations

import logging
import platform
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from threadpoolctl import threadpool_limits

import nnexp
from nnexp.config import register_configs
from nnexp.data import load_dataset
from nnexp.errors import NnexpError
from nnexp.metrics import ERROR_FILE, METRICS_FILE, SUMMARY_FILE, MetricsCSV, write_json_atomic
from nnexp.diagnostics import diagnostic_columns
from nnexp.model import MLP
from nnexp.model.io import MODEL_FILE, save_model
from nnexp.model.loss import n_outputs
from nnexp.runstate import BASIC_SWEEPER, finished_summary, fingerprint, run_lock
from nnexp.train import EPOCH_COLUMNS, TrainResult, train
from nnexp.validation import check_batch_size, validate_run

log = logging.getLogger("nnexp.run")

register_configs()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def summarise(history: list[dict], result: TrainResult, model: MLP, sizes: dict[str, int]) -> dict[str, Any]:
    """Final and best metrics, timing and size of a finished run."""
    final = history[-1] if history else {}
    best = max(history, key=lambda r: r["val_acc"] if np.isfinite(r["val_acc"]) else -1.0, default={})
    return {
        "status": result.status,
        "epochs_completed": result.epochs_completed,
        **{key: final.get(key, float("nan")) for key in EPOCH_COLUMNS if key.endswith(("_loss", "_acc"))},
        "best_epoch": best.get("epoch"),
        "best_val_acc": best.get("val_acc", float("nan")),
        "test_acc_at_best_val": best.get("test_acc", float("nan")),
        "train_seconds": result.train_seconds,
        "eval_seconds": result.eval_seconds,
        "samples_per_second": result.samples_seen / result.train_seconds if result.train_seconds else float("nan"),
        "n_params": model.n_params,
        "layer_sizes": model.layer_sizes,
        **sizes,
    }


def launcher_cpus() -> int:
    """CPUs the launcher gives each run (``hydra.launcher.cpus_per_task``, e.g. SLURM); 1 if it names none."""
    try:
        launcher = HydraConfig.get().launcher
    except ValueError:  # not run by Hydra (tests, notebooks)
        return 1
    return int(launcher.get("cpus_per_task") or 1)


def _train_and_summarise(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    spec = validate_run(cfg)
    threads = spec.blas_threads or launcher_cpus()
    log.info("BLAS threads: %d", threads)
    with threadpool_limits(limits=threads, user_api="blas"):
        data = load_dataset(cfg.data)
        if spec.task == "one_vs_all":
            data = data.one_vs_all(spec.positive_class)
        check_batch_size(spec.batch_size, len(data.y_train), cfg.data.train_limit)
        init_seed, shuffle_seed = np.random.SeedSequence(spec.seed).spawn(2)
        model = MLP.initialise(
            [data.n_features, *spec.hidden, n_outputs(data.n_classes)],
            spec.activation,
            spec.init,
            np.random.default_rng(init_seed),
            dtype=spec.dtype,
            init_scale=spec.init_scale,
            leaky_slope=spec.leaky_slope,
            loss=spec.loss,
        )
        log.info("network %s, %s activation, %s output, %d parameters",
                 model.layer_sizes, spec.activation, model.output.name, model.n_params)  # fmt: skip
        history: list[dict] = []
        columns = [*EPOCH_COLUMNS, *(diagnostic_columns(model) if cfg.diagnostics else [])]
        with MetricsCSV(out_dir / METRICS_FILE, columns) as metrics:

            def record(row: dict) -> None:
                metrics.write(row)
                history.append(row)

            result = train(
                model,
                data,
                epochs=spec.epochs,
                batch_size=spec.batch_size,
                lr=spec.lr,
                rng=np.random.default_rng(shuffle_seed),
                on_epoch=record,
                diagnostics=cfg.diagnostics,
            )
        if cfg.save_model:
            config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
            save_model(out_dir / MODEL_FILE, model, data.preprocess, config)
    return summarise(history, result, model, data.sizes())


def execute(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Validate ``cfg``, train, and write ``metrics.csv`` and ``summary.json`` into ``out_dir``.

    A folder that already holds a finished run of the same configuration is left
    as it is (unless ``force``). Any error is recorded in the folder, as status
    ``failed`` in ``summary.json`` and the traceback in ``error.txt``, then raised.
    The folder is locked meanwhile: a concurrent run of the same configuration waits.
    """
    with run_lock(out_dir):
        return _execute_locked(cfg, out_dir)


def _execute_locked(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    config_fingerprint = fingerprint(cfg)
    previous = finished_summary(out_dir, config_fingerprint)
    if previous is not None and not cfg.force:
        log.info("skipped: finished already with this configuration (%s); force=true reruns it", previous["status"])
        return previous
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in (SUMMARY_FILE, ERROR_FILE, MODEL_FILE):  # until this attempt finishes, the run counts as unfinished
        (out_dir / stale).unlink(missing_ok=True)
    record = {
        "fingerprint": config_fingerprint,
        "started": _now(),
        "host": platform.node(),
        "versions": {"nnexp": nnexp.__version__, "numpy": np.__version__, "python": sys.version.split()[0]},
        "config": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
    }
    try:
        summary = {**_train_and_summarise(cfg, out_dir), **record, "finished": _now()}
    except Exception as exc:
        expected = isinstance(exc, NnexpError)  # bad input or data: the message says it all
        error = str(exc) if expected else f"{type(exc).__name__}: {exc}"
        (out_dir / ERROR_FILE).write_text(traceback.format_exc())
        write_json_atomic(out_dir / SUMMARY_FILE, {"status": "failed", "error": error, **record, "finished": _now()})
        log.error("error: %s" if expected else "run failed: %s", error, exc_info=not expected)
        raise
    write_json_atomic(out_dir / SUMMARY_FILE, summary)
    log.info(
        "%s after %d epochs: test accuracy %.2f%%, %.1f s training",
        summary["status"], summary["epochs_completed"], 100 * summary["test_acc"], summary["train_seconds"],
    )  # fmt: skip
    return summary


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Hydra task: one training run; returns the final validation accuracy (for sweepers).

    In a grid sweep, a failed run is recorded in its folder and the sweep goes on; a
    single run exits with status 2 for bad input or data, 1 for any other error. A
    searching sweeper (Optuna) is told of failed and diverged runs by an exception,
    which it counts as a failed trial (a NaN objective would stop it).
    """
    hydra = HydraConfig.get()
    searching = hydra.mode == RunMode.MULTIRUN and hydra.sweeper.get("_target_") != BASIC_SWEEPER
    try:
        summary = execute(cfg, Path(hydra.runtime.output_dir))
    except Exception as exc:
        if hydra.mode == RunMode.RUN:
            sys.exit(2 if isinstance(exc, NnexpError) else 1)
        if searching:
            raise
        return float("nan")
    if searching and summary["status"] != "completed":
        raise RuntimeError(f"run {summary['status']}: no objective value for the search")
    return float(summary["val_acc"])


if __name__ == "__main__":
    main()
