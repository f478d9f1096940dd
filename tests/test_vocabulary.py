"""One home for each vocabulary, and a package without import cycles.

The settings that never change a result, the activations, the data readers and the run
statuses are each defined once; the configs that have to spell them out again are checked
against that definition here.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from nnexp.config import Config
from nnexp.data import DataConfig, loading
from nnexp.model import ACTIVATIONS, INIT_SCHEMES, LOSSES
from nnexp.model.loss import OUTPUTS
from nnexp.optim import OPTIMIZERS, SCHEDULES
from nnexp.report.runs import METRICS_DEFINITION_COLUMN
from nnexp.results import EPOCH_COLUMNS, OUTCOME_COLUMNS, RunStatus, status_counts
from nnexp.results.summary import FINAL_METRICS
from nnexp.setting_kinds import EXECUTION_ONLY
from nnexp.training import RunSpec, execute
from tests.conftest import CONF_DIR, ROOT, settings_of

PACKAGE = ROOT / "nnexp"
# nnexp/sweep/launcher is installed as hydra_plugins.nnexp_launcher (pyproject.toml)
ALIASES = {"hydra_plugins.nnexp_launcher": "nnexp.sweep.launcher"}


def test_the_run_folder_name_leaves_out_exactly_the_execution_only_settings() -> None:
    config = yaml.safe_load((CONF_DIR / "config.yaml").read_text())
    assert config["hydra"]["job"]["config"]["override_dirname"]["exclude_keys"] == list(EXECUTION_ONLY)


def test_the_search_space_offers_exactly_the_registered_activations(compose_config) -> None:
    search = compose_config(["+hparams_search=optuna", "hydra/sweeper=optuna"], hydra=True)
    choice = search.hydra.sweeper.params.activation
    assert choice == f"choice({', '.join(ACTIVATIONS)})" and {"gelu", "silu"} <= set(ACTIVATIONS)


# the learning rate each optimizer group sets (README: settings table)
GROUP_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adam": 0.001, "rmsprop": 0.001}


def test_every_registered_choice_composes_and_reaches_the_run(compose_config) -> None:
    """Each name of a registry is a value Hydra accepts (the config group files exist for optimizers and
    schedules) and arrives in the run's checked settings as that name."""
    assert set(GROUP_LR) == set(OPTIMIZERS)
    for name in ACTIVATIONS:
        assert (
            RunSpec.from_settings(settings_of(compose_config(["data=digits", f"activation={name}"]))).activation == name
        )
    for name in INIT_SCHEMES:
        assert RunSpec.from_settings(settings_of(compose_config(["data=digits", f"init={name}"]))).init == name
    for name in OPTIMIZERS:
        method = RunSpec.from_settings(settings_of(compose_config(["data=digits", f"optimizer={name}"]))).method
        assert (method.optimizer, method.lr) == (name, GROUP_LR[name])
        assert dict(method.optimizer_settings) == OPTIMIZERS[name].SETTINGS  # defaults filled in
    for name in SCHEDULES:
        method = RunSpec.from_settings(settings_of(compose_config(["data=digits", f"lr_schedule={name}"]))).method
        assert method.lr_schedule == name and set(method.schedule_settings) == set(SCHEDULES[name].settings)
    for output, loss in (("softmax", "cross_entropy"), ("sigmoid", "mse")):
        spec = RunSpec.from_settings(settings_of(compose_config(["data=digits", f"output={output}", f"loss={loss}"])))
        assert (spec.output, spec.loss) == (output, loss)
    assert set(OUTPUTS) == {"softmax", "sigmoid"} and set(LOSSES) == {"cross_entropy", "mse"}


def test_every_data_group_names_a_known_reader() -> None:
    for path in sorted((CONF_DIR / "data").glob("*.yaml")):
        group = {**OmegaConf.to_container(OmegaConf.structured(DataConfig)), **yaml.safe_load(path.read_text())}
        assert group["loader"] in loading.readers(), path.name


def test_the_summary_record_holds_every_final_metric_of_the_epoch_rows() -> None:
    assert set(FINAL_METRICS) <= set(OUTCOME_COLUMNS) and set(FINAL_METRICS) <= set(EPOCH_COLUMNS)


def test_status_counts_follow_the_enum_order() -> None:
    assert status_counts(["failed", RunStatus.completed, "missing", "completed"]) == "2 completed, 1 failed, 1 missing"
    assert RunStatus("diverged").finished and not RunStatus.failed.finished


def test_a_new_data_set_is_one_reader_module(tmp_path, monkeypatch) -> None:
    """A reader module dropped into nnexp.data.sets (here: a folder added to its path) is found by its
    LOADER name and trains with its own class count; nothing else in the package names it."""
    (tmp_path / "three_blobs.py").write_text(
        '"""Three classes of 4-pixel images."""\n'
        "import numpy as np\n"
        "from nnexp.data.content import DataIdentity\n"
        "from nnexp.data.dataset import RawImages\n"
        'LOADER = "three_blobs"\n'
        "class Reader:\n"
        "    def __init__(self, cfg):\n"
        "        self.cfg = cfg\n"
        "    n_classes = property(lambda self: self.cfg.n_classes)\n"
        "    def training_shape(self):\n"
        "        return 300, 4\n"
        "    def identity(self):\n"
        '        return DataIdentity("three-blobs-1", "three blobs, seed 0 (300 / 60)")\n'
        "    def load(self):\n"
        "        rng = np.random.default_rng(0)\n"
        "        y = rng.integers(0, 3, 400)\n"
        "        x = rng.integers(0, 50, (400, 4)) + 200 * np.eye(3, 4, dtype=int)[y]\n"
        "        return RawImages(x[:300], y[:300], x[300:], y[300:], pixel_max=255.0)\n"
    )
    import nnexp.data.sets as sets

    monkeypatch.setattr(sets, "__path__", [*sets.__path__, str(tmp_path)])
    monkeypatch.syspath_prepend(str(tmp_path))
    loading.readers.cache_clear()
    try:
        settings = OmegaConf.to_object(OmegaConf.structured(Config))
        settings.data = DataConfig(name="blobs", loader="three_blobs", n_classes=3, cache_dir=str(tmp_path / "cache"))
        settings.epochs, settings.hidden, settings.lr, settings.blas_threads = 20, 8, 0.5, 1
        summary = execute(settings, tmp_path / "run")
    finally:
        loading.readers.cache_clear()
        sys.modules.pop("nnexp.data.sets.three_blobs", None)
    assert summary.status == "completed" and summary.layer_sizes == [4, 8, 3]
    assert summary.test_acc > 0.9 and summary.n_train == 270
    known = {*OUTCOME_COLUMNS, METRICS_DEFINITION_COLUMN}  # the one scalar the report reads as a config column
    assert known >= {key for key, value in summary.to_dict().items() if np.isscalar(value) or value is None}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """The nnexp modules ``path`` imports anywhere (functions included), with the packages whose
    ``__init__`` such an import runs (its own ancestors excluded: they are being imported already)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            target = next(
                (real + target[len(alias) :] for alias, real in ALIASES.items() if target.startswith(alias)), target
            )
            parts = target.split(".")
            for depth in range(1, len(parts) + 1):
                module = ".".join(parts[:depth])
                if module.startswith("nnexp") and not name.startswith(f"{module}.") and module != name:
                    found.add(module)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: _imports(path, name) & modules.keys() for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_lazy_imports_included() -> None:
    graph = _graph()
    assert "nnexp.training.spec" in graph["nnexp.training.job"]  # the graph sees imports inside functions too
    assert "nnexp.report" in graph["nnexp.sweep.callback"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


# What each stage may not import, directly or through other modules (imports inside functions included): the
# tree runs config -> data -> model -> optim -> training -> results -> report, with the sweep above them all.
NOT_IMPORTED_BY = {
    "nnexp.data": ("nnexp.model", "nnexp.optim", "nnexp.training", "nnexp.results", "nnexp.report", "nnexp.sweep"),
    "nnexp.model": ("nnexp.data", "nnexp.optim", "nnexp.training", "nnexp.results", "nnexp.report", "nnexp.sweep"),
    "nnexp.optim": ("nnexp.data", "nnexp.training", "nnexp.results", "nnexp.report", "nnexp.sweep"),
    "nnexp.results": ("nnexp.report", "nnexp.sweep"),
    "nnexp.report": ("nnexp.model", "nnexp.optim", "nnexp.training", "nnexp.sweep"),
}


@pytest.mark.parametrize("stage", NOT_IMPORTED_BY)
def test_no_stage_imports_up_the_tree(stage: str) -> None:
    graph = _graph()

    def reached(module: str) -> set[str]:
        seen, frontier = set(), {module}
        while frontier:
            frontier = {target for name in frontier for target in graph[name]} - seen
            seen |= frontier
        return seen

    upwards = {
        f"{module} imports {target}"
        for module in graph
        if module == stage or module.startswith(f"{stage}.")
        for target in reached(module)
        if target.startswith(NOT_IMPORTED_BY[stage])
    }
    assert not upwards, sorted(upwards)


@pytest.mark.parametrize("package", sorted(p.parent.name for p in PACKAGE.rglob("__init__.py")))
def test_package_inits_only_re_export(package) -> None:
    path = next(p for p in PACKAGE.rglob("__init__.py") if p.parent.name == package)
    for node in ast.parse(path.read_text()).body:
        is_docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        names = isinstance(node, ast.Assign) and [t.id for t in node.targets] in (["__all__"], ["__version__"])
        assert is_docstring or names or isinstance(node, (ast.Import, ast.ImportFrom)), f"{path}: {ast.dump(node)[:80]}"


def _hydra_names_used(path: Path) -> set[str]:
    """Every dotted name ``path`` imports from Hydra or a Hydra plugin (nnexp's own plugin package aside)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {
        name
        for name in names
        if name.split(".")[0] in ("hydra", "hydra_plugins") and not name.startswith("hydra_plugins.nnexp_launcher")
    }


def test_only_public_names_of_hydra_and_its_plugins_are_imported() -> None:
    """Issue 26: nnexp survives Hydra's next release by its documented API: no module or name starting with ``_``."""
    private = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in PACKAGE.rglob("*.py")
        for name in _hydra_names_used(path)
        if any(part.startswith("_") for part in name.split("."))
    }
    assert not private, sorted(private)
    used = set().union(*(_hydra_names_used(path) for path in PACKAGE.rglob("*.py")))
    assert "hydra.core.utils.run_job" in used  # the scan sees Hydra's imports (from-imports and plain ones)
