"""Which settings can change a run's result: one home for the stages that need to know (fingerprints, folder
names, the report's columns), apart from the config schema and the registries it imports."""

from __future__ import annotations

# Settings that never change a run's result. They do not name its folder (conf/config.yaml's
# hydra.job.config.override_dirname.exclude_keys lists the same keys; a test checks), do not
# enter its fingerprint, and are not columns of the report. A key below one of these counts too.
EXECUTION_ONLY = (
    "hydra.launcher.n_jobs",
    "blas_threads",
    "force",
    "fresh",
    "verbose",
    "pack",
    "data.cache_dir",
    "data.cache_arrays",
    "report.enabled",
    "report.dir",
    "report.rows",
    "report.cols",
    "report.metrics",
    "report.published",
    "tracker",
    "tracker.dir",
    "tracker.uri",
    "tracker.experiment",
)
# Settings that say where the data set's files come from: they enter the fingerprint (other files
# can give other results) but are not columns of the report, where data.name names the data set.
DATA_SOURCE = ("data.root", "data.urls", "data.md5", "data.files")


# Settings that draw a replicate of a configuration (a seed of its initialisation, shuffling and dropout; a seed of its
# train/validation split): runs that differ in these only are repeats of one protocol, whose tables and curves average
# them and whose spread is the intervals' variance; never two configurations to tell apart.
REPLICATES = ("seed", "data.split_seed")


# Settings added after runs were made, with the value that computes what those runs computed: at that value they are
# left out of the fingerprint, so that the runs made before keep their identity (and their finished results), and a
# run whose record lacks one is read as having it.
LATER_SETTINGS = {"grad_reduction": "mean", "output_grad": "exact", "data.order": "shuffled", "bias_init": "zeros"}


def is_execution_only(key: str) -> bool:
    """Whether the dotted ``key`` is, or lies below, one of :data:`EXECUTION_ONLY`."""
    return any(key == name or key.startswith(f"{name}.") for name in EXECUTION_ONLY)
