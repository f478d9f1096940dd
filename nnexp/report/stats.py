"""Replicate statistics over seeds: the mean's 95% confidence interval (Student's t), and the predictive
distribution of one new run, its 95% prediction interval and log scores (docs/statistics.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

LEVEL = 0.95


def _t_quantile(dof: np.ndarray | float, q: float) -> np.ndarray | float:
    """The ``q`` quantile of Student's t with ``dof`` degrees of freedom (inf: the normal one)."""
    from scipy.special import stdtrit  # 0.4 s to import (scipy.stats: 1.2 s): only where an interval is computed

    return stdtrit(dof, q)


def t_half_width(std: np.ndarray | float, n: np.ndarray | int, level: float = LEVEL) -> np.ndarray | float:
    """Half-width of the two-sided ``level`` t-interval: t_{(1+level)/2, n-1} * std / sqrt(n) (NaN for n < 2)."""
    n = np.asarray(n, dtype=float)
    dof = np.where(n >= 2, n - 1, np.nan)
    return _t_quantile(dof, (1 + level) / 2) * np.asarray(std, dtype=float) / np.sqrt(n)


@dataclass(frozen=True)
class Predictive:
    """Where one new run of a protocol lands, from n runs of it (normal model, unknown variance): ``mean`` +
    ``scale`` x T with T Student's t of ``dof`` = n − 1 degrees of freedom, ``scale`` = s' * sqrt(1 + 1/n),
    s' = max(s, floor) (a spread below the measurement's resolution is not taken as certainty)."""

    mean: float
    scale: float
    dof: float

    @classmethod
    def of(cls, values: np.ndarray | pd.Series, floor: float = 0.0) -> Predictive | None:
        """From the runs' ``values`` (NaN ignored); None for fewer than two."""
        x = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=float)
        n = len(x)
        if n < 2:
            return None
        return cls(float(x.mean()), max(float(x.std(ddof=1)), floor) * math.sqrt(1 + 1 / n), n - 1.0)

    def half_width(self, level: float = LEVEL) -> float:
        """Half-width of the two-sided ``level`` prediction interval: t_{(1+level)/2, n-1} * scale."""
        return float(_t_quantile(self.dof, (1 + level) / 2)) * self.scale

    def log_density(self, x: float) -> float:
        """Log predictive density at ``x`` (per unit of the values): the log score of an observed ``x``."""
        from scipy.special import gammaln

        nu, z = self.dof, (x - self.mean) / self.scale
        return float(
            gammaln((nu + 1) / 2)
            - gammaln(nu / 2)
            - 0.5 * math.log(nu * math.pi)
            - math.log(self.scale)
            - (nu + 1) / 2 * math.log1p(z * z / nu)
        )

    def log_at_least(self, x: float) -> float:
        """Log probability that one new run reaches at least ``x``: the log score of a claim "≥ x"."""
        from scipy.special import stdtr

        return float(np.log(stdtr(self.dof, (self.mean - x) / self.scale)))

    def expected_log_density(self) -> float:
        """The mean log score of a new run drawn from this distribution itself (minus its differential entropy):
        what a published value that is one such run scores on average."""
        from scipy.special import betaln, digamma

        nu = self.dof
        entropy = (nu + 1) / 2 * (digamma((nu + 1) / 2) - digamma(nu / 2)) + 0.5 * math.log(nu) + betaln(nu / 2, 0.5)
        return float(-(entropy + math.log(self.scale)))


def wilson_interval(successes: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes`` / ``n`` (NaN, NaN for n = 0)."""
    if n == 0:
        return math.nan, math.nan
    z = float(_t_quantile(np.inf, (1 + level) / 2))  # the normal quantile (t with infinite degrees of freedom)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def t_interval(values: np.ndarray | pd.Series, level: float = LEVEL) -> tuple[float, float, int]:
    """Mean, half-width of the two-sided ``level`` t-interval, and n (NaN values ignored).

    The half-width is t_{(1+level)/2, n-1} * s / sqrt(n) with s the sample standard
    deviation; it is NaN for fewer than two values.
    """
    x = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, 1
    half = float(t_half_width(x.std(ddof=1), n, level))
    return mean, half, n


def cell_stats(runs: pd.DataFrame, keys: list[str], metric: str, scale: float = 1.0) -> pd.DataFrame:
    """One row per combination of ``keys``: mean, ci95 (half-width) and n of ``metric`` x ``scale``."""
    rows = []
    for key, group in runs.groupby(keys, dropna=False, sort=False):
        mean, half, n = t_interval(group[metric] * scale)
        rows.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,))), "mean": mean, "ci95": half, "n": n})
    return pd.DataFrame(rows, columns=[*keys, "mean", "ci95", "n"])
