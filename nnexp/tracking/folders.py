"""The folders a tracker's defaults make under a sweep's (or single run's) folder: no run's (nnexp.report.runs skips
them)."""

TENSORBOARD_FOLDER = "tensorboard"
MLFLOW_FOLDER = "mlflow"
TRACKER_FOLDERS = (TENSORBOARD_FOLDER, MLFLOW_FOLDER)
