"""Conditional-independence tests X _||_ Y | Z on data: linear (partial correlation) and nonparametric.

`LinearCI` computes one correlation matrix of all encoded columns and answers every test from it
(Fisher's z for two scalar variables; Bartlett's chi-square on the canonical partial correlations
when a categorical variable enters as a block of dummies; Anderson 2003, sec. 12.4), so testing a
hundred random graphs on 124,300 rows costs milliseconds. `KciCI` is the nonparametric option:
causal-learn's kernel CI test on a seeded subsample. A permutation test of the correlation of
tree-ensemble residuals was tried first and dropped: the regression bias of the trees made it reject
a true nonlinear graph (a <- x -> b, a = x^2, b = |x|) in 10 of 10 seeds at 1,500 rows, where KCI
kept p-values of 0.25-0.97 at 300-800 rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from tasks.graph.encode import numeric_blocks, seeded_sample

__all__ = ["LinearCI", "KciCI", "CI_METHODS"]

_TINY = 1e-10


class LinearCI:
    """Partial-correlation tests (Gaussian / linear) from one correlation matrix."""

    method = "linear"

    def __init__(self, frame: pd.DataFrame, columns: list[str], categorical: tuple[str, ...] = ()):
        blocks = numeric_blocks(frame, columns, categorical=categorical)
        self.n = len(frame)
        self._index: dict[str, list[int]] = {}
        start = 0
        for column in columns:
            width = blocks[column].shape[1]
            self._index[column] = list(range(start, start + width))
            start += width
        matrix = np.column_stack([blocks[c] for c in columns]) if start else np.zeros((self.n, 0))
        self._corr = np.atleast_2d(np.corrcoef(matrix, rowvar=False)) if start and self.n > 1 else np.zeros((0, 0))

    def p_value(self, x: str, y: str, given: tuple[str, ...]) -> float | None:
        a, b = self._index[x], self._index[y]
        c = [i for g in given for i in self._index[g]]
        if not a or not b or self.n - len(c) - 3 <= 0:
            return None
        ab = a + b
        cov = self._corr[np.ix_(ab, ab)]
        if c:
            cross = self._corr[np.ix_(ab, c)]
            cov = cov - cross @ np.linalg.pinv(self._corr[np.ix_(c, c)]) @ cross.T
        p, q = len(a), len(b)
        caa, cbb, cab = cov[:p, :p], cov[p:, p:], cov[:p, p:]
        if np.linalg.eigvalsh(caa).min() <= _TINY or np.linalg.eigvalsh(cbb).min() <= _TINY:
            return None  # X or Y is (nearly) a function of Z: nothing left to test
        if p == q == 1:
            r = float(np.clip(cab[0, 0] / np.sqrt(caa[0, 0] * cbb[0, 0]), -1 + 1e-15, 1 - 1e-15))
            z = np.arctanh(r) * np.sqrt(self.n - len(c) - 3)
            return float(2 * stats.norm.sf(abs(z)))
        squared = np.linalg.eigvals(np.linalg.solve(caa, cab) @ np.linalg.solve(cbb, cab.T)).real
        squared = np.clip(squared, 0.0, 1 - 1e-15)
        statistic = -(self.n - 1 - len(c) - (p + q + 1) / 2) * float(np.log1p(-squared).sum())
        return float(stats.chi2.sf(statistic, p * q))


class KciCI:
    """causal-learn's kernel conditional-independence test (Zhang et al. 2011) on a seeded subsample.

    Kernel matrices grow with the square of the rows, so the test runs on `rows` rows (0.15 s per
    test at 400 rows with four conditioning columns here); a categorical variable enters as a block.
    """

    method = "kci"

    def __init__(self, frame: pd.DataFrame, columns: list[str], categorical: tuple[str, ...] = (), *,
                 seed: int = 0, rows: int = 500):
        sample = seeded_sample(frame, rows, seed)
        blocks = numeric_blocks(sample, columns, categorical=categorical)
        self.n = len(sample)
        self._index: dict[str, list[int]] = {}
        start = 0
        for column in columns:
            self._index[column] = list(range(start, start + blocks[column].shape[1]))
            start += blocks[column].shape[1]
        self._kci = None
        if start and self.n >= 10:
            from causallearn.utils.cit import CIT

            self._kci = CIT(np.column_stack([blocks[c] for c in columns]), "kci")

    def p_value(self, x: str, y: str, given: tuple[str, ...]) -> float | None:
        a, b = self._index[x], self._index[y]
        if not a or not b or self._kci is None:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numerical warnings from near-singular kernels; the p-value stands
            p = float(self._kci(a, b, [i for g in given for i in self._index[g]]))
        return p if np.isfinite(p) else None


CI_METHODS = {"linear": LinearCI, "kci": KciCI}
