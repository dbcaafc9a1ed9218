"""Tracking solutions: the per-variable states chosen by a solver, their energy and validity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .energies import Energies
from .graph import HypothesesGraph


@dataclass
class Solution:
    """Result of a solver on a hypotheses graph (same structure for every solver).

    Attributes
    ----------
    graph : HypothesesGraph
    energies : Energies
    count : (n,) int64
        Objects carried by each detection (0 = false detection; > 1 = merger).
    appearance, disappearance : (n,) int64
        Units appearing at / disappearing after each detection.
    link_value : (E,) int64
        Flow on each link of ``graph`` (objects passed along it).
    division : (n,) bool
        Detections that divide.
    energy : float
        Total energy of the solution (spec §4.5), see :func:`total_energy`.
    solver : str
    optimal : bool or None
        True if the solver proved optimality (ILP), None if it cannot tell (flow with divisions).
    bound : float or None
        Lower bound on the optimal energy (ILP).
    seconds : float
        Solve time.
    """

    graph: HypothesesGraph
    energies: Energies
    count: np.ndarray
    appearance: np.ndarray
    disappearance: np.ndarray
    link_value: np.ndarray
    division: np.ndarray
    energy: float
    solver: str
    optimal: bool | None = None
    bound: float | None = None
    seconds: float = 0.0

    @property
    def gap(self) -> float | None:
        """Relative gap (energy - bound) / max(1, |energy|), when a bound is known.

        A bound that exceeds the energy by float rounding (the two are sums in different orders)
        gives a gap of 0.
        """
        if self.bound is None:
            return None
        return max(0.0, float((self.energy - self.bound) / max(1.0, abs(self.energy))))

    @property
    def active_links(self) -> np.ndarray:
        """Indices of links with positive flow."""
        return np.flatnonzero(self.link_value > 0)


def total_energy(
    energies: Energies,
    count: np.ndarray,
    appearance: np.ndarray,
    disappearance: np.ndarray,
    link_value: np.ndarray,
    division: np.ndarray,
) -> float:
    """Energy of a labelling: sum of the chosen state costs of every variable (spec §4.5).

    Examples
    --------
    >>> z = np.zeros((1, 2))
    >>> e = Energies(np.array([[0., -5.]]), z, z, np.zeros((0, 2)), z, np.zeros(1, bool))
    >>> total_energy(e, np.array([1]), np.array([0]), np.array([0]), np.zeros(0, int), np.zeros(1, bool))
    -5.0
    """
    n = energies.detection.shape[0]
    idx = np.arange(n)
    e = energies.detection[idx, count].sum()
    e += energies.appearance[idx, appearance].sum()
    e += energies.disappearance[idx, disappearance].sum()
    if link_value.size:
        e += energies.link[np.arange(link_value.size), link_value].sum()
    allowed = energies.division_allowed
    e += energies.division[allowed, division[allowed].astype(np.int64)].sum()
    return float(e)


def constraint_violations(sol: Solution) -> list[str]:
    """Constraints of the ILP model (spec §4.8) that ``sol`` violates (empty list if valid).

    Examples
    --------
    Any solver's result should satisfy ``constraint_violations(solution) == []``.
    """
    g, m = sol.graph, sol.energies.max_objects
    n = g.n_nodes
    inflow = np.bincount(g.dst, weights=sol.link_value, minlength=n).astype(np.int64)
    outflow = np.bincount(g.src, weights=sol.link_value, minlength=n).astype(np.int64)
    d = sol.division.astype(np.int64)
    bad = []
    if np.any(sol.count < 0) or np.any(sol.count > m):
        bad.append("count out of range")
    bad_in = np.flatnonzero(inflow + sol.appearance != sol.count)
    bad_out = np.flatnonzero(outflow + sol.disappearance != sol.count + d)
    if bad_in.size:
        bad.append(f"incoming flow conservation at {bad_in[:5]}")
    if bad_out.size:
        bad.append(f"outgoing flow conservation at {bad_out[:5]}")
    if np.any(sol.division & (sol.count != 1)):
        bad.append("division of a detection whose count is not 1")
    if np.any(sol.division & ~sol.energies.division_allowed):
        bad.append("division where not allowed")
    ones = np.bincount(g.src, weights=(sol.link_value == 1), minlength=n)
    if np.any(2 * d > ones):
        bad.append("division without two separate children")
    if m > 1:
        app_in = (sol.appearance[g.dst] > 0) & (sol.link_value > 0)
        dis_out = (sol.disappearance[g.src] > 0) & (sol.link_value > 0)
        if np.any(app_in):
            bad.append("partial merger appearance")
        if np.any(dis_out):
            bad.append("partial merger disappearance")
        if np.any((sol.disappearance > 0) & sol.division):
            bad.append("disappearance and division")
    return bad
