"""MLflow: a run per nnexp run in an experiment, through ``MlflowClient``: its settings as params, its epochs' metrics
by step, its status, and ``summary.json`` and ``model.npz`` as artifacts. Each run is tagged with its configuration's
fingerprint and status, by which a run logged already is found again (a resumed run continues its own; an export
skips it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient

from nnexp.results import SUMMARY_FILE
from nnexp.results.model_file import MODEL_FILE
from nnexp.results.summary import RunSummary

FINGERPRINT_TAG = "nnexp.fingerprint"
STATUS_TAG = "nnexp.status"
MLFLOW_STATUS = {"completed": "FINISHED", "diverged": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
UNFINISHED = (RunStatus.to_string(RunStatus.RUNNING), RunStatus.to_string(RunStatus.KILLED))
BATCH = 1000  # MLflow's limit of metrics in one log_batch call


class MLflow:
    """The experiment ``experiment`` of the tracking store ``uri`` (made if need be; its artifacts in ``artifacts``,
    None: the store's default)."""

    def __init__(self, uri: str, experiment: str, artifacts: Path | None) -> None:
        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            location = artifacts.absolute().as_uri() if artifacts is not None else None
            try:
                self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
            except Exception:  # made meanwhile by another run's process
                found = self.client.get_experiment_by_name(experiment)
                if found is None:
                    raise
        if found is not None:
            self.experiment_id = found.experiment_id

    def _runs(self, fingerprint: str) -> list:
        return self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{FINGERPRINT_TAG}` = '{fingerprint}'",
            order_by=["start_time DESC"],
        )

    def logged(self, name: str, fingerprint: str, status: str) -> bool:
        return any(run.data.tags.get(STATUS_TAG) == status for run in self._runs(fingerprint))

    def start(self, name: str, fingerprint: str, params: dict[str, Any], first_epoch: int) -> _RunLog:
        if first_epoch > 1:  # resumed: the unfinished run of its earlier attempt, if logged
            for run in self._runs(fingerprint):
                if run.info.status in UNFINISHED:
                    self.client.update_run(run.info.run_id, status=RunStatus.to_string(RunStatus.RUNNING))
                    return _RunLog(self.client, run.info.run_id)
        run = self.client.create_run(self.experiment_id, run_name=name, tags={FINGERPRINT_TAG: fingerprint})
        params = [Param(key, str(value)) for key, value in params.items()]
        for begin in range(0, len(params), 100):  # MLflow's limit of params in one log_batch call
            self.client.log_batch(run.info.run_id, params=params[begin : begin + 100])
        return _RunLog(self.client, run.info.run_id)


class _RunLog:
    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def epoch(self, row: dict[str, float]) -> None:
        now, step = int(time.time() * 1000), int(row["epoch"])
        metrics = [Metric(key, float(value), now, step) for key, value in row.items() if key != "epoch"]
        for begin in range(0, len(metrics), BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[begin : begin + BATCH])

    def end(self, summary: RunSummary, folder: Path) -> None:
        status = summary.status.value
        for name in (SUMMARY_FILE, MODEL_FILE):
            if (folder / name).is_file():
                self.client.log_artifact(self.run_id, str(folder / name))
        self.client.set_tag(self.run_id, STATUS_TAG, status)
        self.client.set_terminated(self.run_id, MLFLOW_STATUS.get(status, "FAILED"))
