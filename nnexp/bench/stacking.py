"""Benchmark for packs (issue 28): k networks of one sweep trained as one stacked model, or as k separate runs.

For the shapes of the reproduction presets (:data:`CASES`) it times one plain-SGD training step
(forward, backward, update) of k separate nnexp networks (:func:`step_alone`, one after another:
k times the step of one) against one step of :class:`nnexp.bench.stack_model.StackedMLP`, for k
members in ``--k`` (default 1, 2, 4, 8, 12, 20, 80; 80 only where a step stays cheap). Stacked
variants: ``shared`` (every member reads the same rows: one GEMM ``x @ W`` of (n_0, k n_1)),
``own`` (each member its own rows, as members shuffled by different seeds: batched matmuls),
each with the later layers as one batched ``np.matmul`` (``batched``) or a loop over members
(``loop``). BLAS runs on 1 and on 2 threads (threadpoolctl); ``--pairs`` also runs two processes
with 1 thread each side by side (a 2-worker sweep): k separate runs against packs of half the
preset's pack size. The batch is fixed (no gathering of rows: the same for every variant).

Each figure is the median of ``--repeats`` blocks of steps (a block lasts >= 50 ms), with the
range; the CPU time other processes took meanwhile is recorded (the machine is shared). Before
timing, each variant's updated weights are checked against separate networks' (:func:`check_agreement`).

Run from the project folder: ``python -m nnexp.bench.stacking --out DIR`` writes ``stacking.csv``
and ``stacking.md`` there.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from nnexp.bench.machine import background_load, environment
from nnexp.bench.stack_model import StackedMLP
from nnexp.bench.stacking_report import SEPARATE, summary
from nnexp.bench.synthetic import synthetic_splits
from nnexp.model import MLP
from nnexp.optim.sgd import SGD

FULL_ROWS = 40_000  # the 003 presets' training split: 60,000 - 1/3 validation
BLOCK_SECONDS = 0.05
ROUNDOFF = 2.0**-24  # float32 unit roundoff
VARIANTS = ("shared-batched", "shared-loop", "own-batched", "own-loop")


@dataclass(frozen=True)
class Case:
    """One shape to time: layer sizes, rows per step, the presets it stands for and their pack size."""

    name: str
    sizes: tuple[int, ...]
    rows: int
    presets: str
    pack: int  # runs of one preset that could form one pack (same data, same shapes)
    variants: tuple[str, ...]  # the stacked variants timed (see VARIANTS)
    max_k: int  # the largest k timed (the step of larger packs is too long to time here)
    init: str = "xavier"
    init_scale: float = 0.01

    @property
    def output(self) -> str:
        return "sigmoid" if self.sizes[-1] == 1 else "softmax"


def _small_batch_cases(rows: int, presets: str) -> list[Case]:
    return [Case(f"784-{h}-10 b{rows}", (784, h, 10), rows, presets, 12, VARIANTS, 80) for h in (32, 128, 256)]


CASES = [
    Case("784-1 full", (784, 1), FULL_ROWS, "w003_single_neuron (80 runs)", 80, VARIANTS[:1], 80, "normal"),
    Case("784-64-1 full", (784, 64, 1), FULL_ROWS, "w003_hidden_binary (12)", 12, VARIANTS[:2], 20, "normal"),
    Case(
        "784-64-10 full",
        (784, 64, 10),
        FULL_ROWS,
        "w003_multiclass (12), a003_multiclass_99 (24 = 2 scalings x 12)",
        12,
        VARIANTS[:2],
        20,
        "normal",
    ),
    *_small_batch_cases(64, "main job (3 per H), m_methods (12 per seed), a000_protocols b64 (9 per seed)"),
    *_small_batch_cases(1, "w000_tables (3 per H and seed), a000_protocols b1 (9 per seed)"),
]


class Problem:
    """Members of ``case``, their batch and labels: x (m, n_0) shared or (k, m, n_0) own rows, y (k, m), lr (k,)."""

    def __init__(self, case: Case, k: int, own_rows: bool, x_train: np.ndarray, y_train: np.ndarray) -> None:
        self.case, self.k = case, k
        m, n_out = case.rows, case.sizes[-1]
        self.members = [
            MLP.initialise(
                list(case.sizes),
                "sigmoid",
                case.init,
                np.random.default_rng(j),
                init_scale=case.init_scale,
                output=case.output,
            )
            for j in range(k)
        ]
        rows = np.arange(k * m if own_rows else m) % len(x_train)
        self.x = x_train[rows].reshape(k, m, -1) if own_rows else x_train[rows]
        labels = y_train[rows].reshape(k, m) if own_rows else np.tile(y_train[rows], (k, 1))
        positive = np.arange(k)[:, None] % 2 * 5  # one-vs-all members alternate classes 0 and 5, as in 003 V.B
        self.y = (labels == positive).astype(np.intp) if n_out == 1 else labels % n_out
        self.lr = np.resize([0.5, 1.0, 2.0, 0.3], k)

    def member_x(self, j: int) -> np.ndarray:
        return self.x if self.x.ndim == 2 else self.x[j]

    def stacked(self, variant: str) -> StackedMLP:
        return StackedMLP(self.members, self.case.rows, variant.startswith("shared"), variant.endswith("loop"))

    def separate_step(self) -> Callable[[], None]:
        """One step of member 0 alone, with nnexp's own kernels."""
        step = step_alone(self.members[0], self.case.rows)
        x, y, lr = self.member_x(0), self.y[0], float(self.lr[0])
        return lambda: step(x, y, lr)


def step_alone(model: MLP, rows: int) -> Callable[[np.ndarray, np.ndarray, float], None]:
    """nnexp's plain-SGD step of ``model`` alone on a batch ``x`` (m <= rows, n_0), ``y`` (m,) at a learning rate:
    its gradients (:meth:`MLP.gradients`) to its optimizer, as in training."""
    ws, sgd = model.workspace(rows), SGD(model.params)
    return lambda x, y, lr: sgd.step(model.gradients(x, y, ws), lr)


def tolerance(rows: int, n_in: int) -> float:
    """How far (relative to a member's largest parameter or update) stacked and separate may differ after a step.

    They compute the same dot products — of n_in terms forward, of ``rows`` terms in the weight gradients —
    with the terms summed in another order (one GEMM over k n_1 columns or a batched one, against one GEMM
    per network: BLAS blocks them differently). In float32 such a reordering moves a sum of n terms by about
    sqrt(n) roundoffs of the sum of the absolute terms; 8 x that allows for the layers passing it on and for
    the worst of many weights.
    """
    return 8 * ROUNDOFF * (math.sqrt(rows) + math.sqrt(n_in))


def check_agreement(problem: Problem, variant: str) -> float:
    """One step of every member separately and stacked from the same weights; the largest difference relative to
    that member's largest |parameter| or |update|. Raises AssertionError above :func:`tolerance`."""
    stacked = problem.stacked(variant)
    stacked.sgd_step(problem.x, problem.y, problem.lr)
    worst = 0.0
    for j, member in enumerate(problem.members):
        before = [p.copy() for p in member.params]
        step_alone(member, problem.case.rows)(problem.member_x(j), problem.y[j], float(problem.lr[j]))
        scale = max(max(float(np.abs(b).max()), float(np.abs(a - b).max())) for a, b in zip(member.params, before))
        diff = max(float(np.abs(s - a).max()) for s, a in zip(stacked.member_params(j), member.params))
        for param, saved in zip(member.params, before):
            param[...] = saved
        worst = max(worst, diff / scale)
    limit = tolerance(problem.case.rows, problem.case.sizes[0])
    assert worst <= limit, f"{problem.case.name} {variant} k={problem.k}: stacked differs by {worst:.2e} > {limit:.2e}"
    return worst


def step_seconds(step: Callable[[], None], repeats: int) -> list[float]:
    """Seconds per call of ``step``: ``repeats`` blocks of calls (each >= BLOCK_SECONDS), after one warm-up call."""
    start = time.perf_counter()
    step()
    calls = max(1, math.ceil(BLOCK_SECONDS / max(time.perf_counter() - start, 1e-7)))
    found = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            step()
        found.append((time.perf_counter() - start) / calls)
    return found


def _step(problem: Problem, variant: str) -> Callable[[], None]:
    if variant == SEPARATE:
        return problem.separate_step()
    stacked = problem.stacked(variant)
    return lambda: stacked.sgd_step(problem.x, problem.y, problem.lr)


def measure(case: Case, variant: str, k: int, threads: int, data, repeats: int) -> dict:
    """A row of the results: step seconds of ``variant`` with ``k`` members (separate: k = 1) on ``threads``."""
    problem = Problem(case, k, variant.startswith("own"), *data)
    step = _step(problem, variant)
    with threadpool_limits(limits=threads, user_api="blas"), background_load() as load:
        seconds = step_seconds(step, repeats)
    return {
        "case": case.name,
        "variant": variant,
        "k": k,
        "threads": threads,
        "procs": 1,
        "sec_median": float(np.median(seconds)),
        "sec_min": min(seconds),
        "sec_max": max(seconds),
        "background_cpus": round(load["cpus"], 2),
    }


def _pair_worker(case: Case, variant: str, k: int, repeats: int, barrier) -> list[float]:
    """In a worker process: build the problem, wait for the other worker, time on one BLAS thread."""
    data = _training_data(case)
    step = _step(Problem(case, k, variant.startswith("own"), *data), variant)
    with threadpool_limits(limits=1, user_api="blas"):
        step()
        barrier.wait()
        return step_seconds(step, repeats)


def measure_pair(case: Case, variant: str, k: int, repeats: int) -> dict:
    """Two processes on one BLAS thread each, side by side, each ``variant`` with ``k`` members: the mean of their
    per-step seconds (a member's step then costs sec / (2 k) of wall time)."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(2, mp_context=context) as pool:
        barrier = manager.Barrier(2)
        futures = [pool.submit(_pair_worker, case, variant, k, repeats, barrier) for _ in range(2)]
        with background_load() as load:
            results = [future.result() for future in futures]
    medians = [float(np.median(seconds)) for seconds in results]
    return {
        "case": case.name,
        "variant": variant,
        "k": k,
        "threads": 1,
        "procs": 2,
        "sec_median": float(np.mean(medians)),
        "sec_min": min(min(seconds) for seconds in results),
        "sec_max": max(max(seconds) for seconds in results),
        "background_cpus": round(max(0.0, load["cpus"] - 2.0), 2),
    }


def _training_data(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic MNIST-shaped rows, as many as the case reads: x (n, 784) float32 in [0, 1], y (n,)."""
    splits = synthetic_splits(max(case.rows, 80 * case.rows if case.rows < FULL_ROWS else 0))
    return splits.x_train, splits.y_train


def run_case(case: Case, ks: list[int], threads: list[int], repeats: int, pairs: bool) -> tuple[list[dict], list]:
    """Agreement checks and timing rows of one case."""
    data = _training_data(case)
    checks = []
    for variant in case.variants:
        k = min(4, case.pack)
        problem = Problem(case, k, variant.startswith("own"), *data)
        limit = tolerance(case.rows, case.sizes[0])
        checks.append((case.name, variant, k, check_agreement(problem, variant), limit))
    rows = []
    for n_threads in threads:
        rows.append(measure(case, SEPARATE, 1, n_threads, data, repeats))
        for variant in case.variants:
            for k in (k for k in ks if 1 < k <= case.max_k):
                rows.append(measure(case, variant, k, n_threads, data, repeats))
    if pairs:
        rows.append(measure_pair(case, SEPARATE, 1, repeats))
        rows.extend(measure_pair(case, variant, max(1, case.pack // 2), repeats) for variant in case.variants)
    return rows, checks


def with_speedups(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-member seconds and the speed-up against separate runs of the same threads and processes.

    ``speedup`` = k t_separate / t_stacked from the medians; ``speedup_low``/``_high`` from the ranges
    (slowest stacked against fastest separate, and the reverse).
    """
    frame = frame.copy()
    frame["sec_per_member"] = frame["sec_median"] / frame["k"]
    separate = frame[frame["variant"] == SEPARATE].set_index(["case", "threads", "procs"])
    key = pd.MultiIndex.from_frame(frame[["case", "threads", "procs"]])
    base = separate.reindex(key)
    frame["speedup"] = (base["sec_median"].to_numpy() * frame["k"]) / frame["sec_median"]
    frame["speedup_low"] = (base["sec_min"].to_numpy() * frame["k"]) / frame["sec_max"]
    frame["speedup_high"] = (base["sec_max"].to_numpy() * frame["k"]) / frame["sec_min"]
    return frame


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m nnexp.bench.stacking", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"), help="output folder (default outputs/bench)")
    parser.add_argument("--k", default="1,2,4,8,12,20,80", help="member counts, comma-separated")
    parser.add_argument("--threads", default="1,2", help="BLAS thread counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per figure (default 5)")
    parser.add_argument("--cases", help="substrings of case names to run, comma-separated (default all)")
    parser.add_argument("--no-pairs", dest="pairs", action="store_false", help="skip the 2-process measurements")
    args = parser.parse_args(argv)
    args.k = [int(v) for v in args.k.split(",")]
    args.threads = [int(v) for v in args.threads.split(",")]
    wanted = args.cases.split(",") if args.cases else [""]
    args.selected = [case for case in CASES if any(part in case.name for part in wanted)]
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark; write stacking.csv and stacking.md to ``--out``; print the summary."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, checks = [], []
    for case in args.selected:
        found, agreed = run_case(case, args.k, args.threads, args.repeats, args.pairs)
        rows += found
        checks += agreed
        print(f"{case.name}: {len(found)} rows", file=sys.stderr)
    frame = with_speedups(pd.DataFrame(rows))
    frame.to_csv(args.out / "stacking.csv", index=False, float_format="%.6g")
    command = " ".join(["python -m nnexp.bench.stacking", *(sys.argv[1:] if argv is None else argv)])
    cases = {case.name: (case.presets, case.pack) for case in args.selected}
    text = summary(frame, checks, cases, f"{environment()}; `{command}`")
    (args.out / "stacking.md").write_text(text)
    print(text)
    return frame


if __name__ == "__main__":
    main()
