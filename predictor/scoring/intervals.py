"""Uncertainty of a calibrated probability: a 95 % interval from its reference counts.

A calibrated probability is "K of N reference patient-days with a similar model score developed
severe CRS" (spec section 5). Its uncertainty is that of a binomial proportion. The Wilson score
interval is used because it stays inside [0, 1] and behaves at K = 0 and K = N and for small N,
where the textbook normal interval collapses to a width of zero (spec section 8).
"""

from __future__ import annotations

import math

import numpy as np

Z_95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal


def wilson_interval(severe: int, n: int, *, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of ``severe`` successes out of ``n``, as (low, high) in [0, 1].

    With no reference at all (``n == 0``) nothing is known: (0, 1).
    """
    if n < 0 or severe < 0 or severe > n:
        raise ValueError(f"need 0 <= severe <= n, got {severe} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = severe / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # Exact ends where the data pin them (K = 0 -> low 0, K = N -> high 1), not 1e-17 off.
    low = 0.0 if severe == 0 else max(0.0, centre - half)
    high = 1.0 if severe == n else min(1.0, centre + half)
    return low, high


def wilson_rate_interval(probability, n, *, z: float = Z_95):
    """The Wilson score interval of an estimated rate ``probability`` worth ``n`` observations,
    element-wise on arrays: the calibration fallback where a baseline says nothing of patients
    (spec section 5c). A rate strictly inside (0, 1) gives bounds strictly inside (0, 1)."""
    p = np.asarray(probability, dtype=np.float64)
    n = np.maximum(np.asarray(n, dtype=np.float64), 1.0)
    low, high = _wilson_rate(p, n, np.sqrt, z)
    return np.clip(low, 0.0, 1.0), np.minimum(high, 1.0)


def wilson_rate_bounds(probability: float, n: int, *, z: float = Z_95) -> tuple[float, float]:
    """``wilson_rate_interval`` for one rate, in plain floats: the same operations in the same
    order (IEEE arithmetic and a correctly rounded square root), so the same bits."""
    low, high = _wilson_rate(float(probability), float(max(n, 1)), math.sqrt, z)
    return min(max(low, 0.0), 1.0), min(high, 1.0)


def _wilson_rate(p, n, sqrt, z: float):
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    high = centre + half  # > 0 for any n >= 1, even at p = 0
    # The bounds are the roots of a quadratic whose product is p^2 / (1 + z^2/n): the low one
    # from that product, as centre - half loses every digit for a rate near 0.
    return p * p / ((1 + z2 / n) * high), high
