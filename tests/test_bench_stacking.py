"""The stacking benchmark's model (nnexp.bench.stack_model) against separate networks, on tiny shapes."""

import numpy as np
import pandas as pd
import pytest

from nnexp.bench.stacking import VARIANTS, Case, Problem, check_agreement, main, step_alone, tolerance

SHAPES = [(12, 1), (12, 5, 1), (12, 5, 3), (12, 6, 4, 3)]


def _data(n: int = 60, features: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.random((n, features), dtype=np.float32), rng.integers(0, 10, n)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("sizes", SHAPES)
@pytest.mark.parametrize("rows", [1, 7])
def test_stacked_step_updates_every_member_as_its_own_network(variant, sizes, rows):
    """One stacked step changes each member's weights as a step of that member alone would (own learning
    rate, labels and, for own rows, batch), to float32 rounding; and the step itself is far larger than that."""
    case = Case("tiny", sizes, rows, "", 4, VARIANTS, 4, init="normal", init_scale=0.5)
    problem = Problem(case, 4, variant.startswith("own"), *_data())
    before = [[p.copy() for p in member.params] for member in problem.members]
    assert check_agreement(problem, variant) <= tolerance(rows, sizes[0])  # it raises above, too
    stacked = problem.stacked(variant)
    stacked.sgd_step(problem.x, problem.y, problem.lr)
    for j in range(problem.k):
        moved = max(float(np.abs(a - b).max()) for a, b in zip(stacked.member_params(j), before[j]))
        assert moved > 100 * tolerance(rows, sizes[0])
    assert not np.allclose(stacked.member_params(0)[0], stacked.member_params(2)[0])  # members stay apart


def test_agreement_check_catches_a_member_given_another_learning_rate():
    case = Case("tiny", (12, 5, 3), 7, "", 4, VARIANTS, 4)
    problem = Problem(case, 4, False, *_data())
    stacked = problem.stacked("shared-batched")
    wrong = problem.lr.copy()
    wrong[1] *= 1.01
    stacked.sgd_step(problem.x, problem.y, wrong)
    member = problem.members[1]
    step_alone(member, 7)(problem.x, problem.y[1], float(problem.lr[1]))
    diff = max(float(np.abs(a - b).max()) for a, b in zip(stacked.member_params(1), member.params))
    assert diff > 10 * tolerance(7, 12)


def test_command_writes_a_table_with_speedups(tmp_path):
    frame = main(
        [
            "--out",
            str(tmp_path),
            "--cases",
            "784-32-10 b1",
            "--k",
            "1,2",
            "--threads",
            "1",
            "--repeats",
            "1",
            "--no-pairs",
        ]
    )
    written = pd.read_csv(tmp_path / "stacking.csv")
    assert set(written["variant"]) == {"separate", *VARIANTS}
    assert written.loc[written["variant"] == "separate", "speedup"].tolist() == pytest.approx([1.0])
    assert (written["sec_median"] > 0).all() and len(written) == len(frame) == 1 + len(VARIANTS)
    text = (tmp_path / "stacking.md").read_text()
    assert "784-32-10 b1" in text and "| own-loop | 4 |" in text
