"""Binary graph cut with a Potts term, ilastik's threshold method 2 ("graph cut").

ilastik (``_execute_GRAPHCUT`` / ``segmentGC``, opengm's GraphCut) takes the smoothed
probability ``v`` of the final channel, rescales it so that the threshold ``t`` maps to 0.5
(``v * 0.5 / t`` below ``t``, ``0.5 + (v - t) / (1 - t)`` from ``t`` on, float32, as ilastik
computes it: values above ``t`` reach up to 1.5), and minimises over ``x`` in {0, 1}

    E(x) = sum_i [x_i (1 - p_i) + (1 - x_i) p_i] + beta * #{face neighbours i, j : x_i != x_j}

(4-neighbourhood in 2D, 6 in 3D), then labels the foreground ``x = 1``.

How it is solved here (the same on CPU and GPU):

1. a pixel whose preference ``|2 p - 1|`` exceeds ``beta`` times its number of neighbours
   takes its preferred label in every minimiser (flipping it can never pay); on probability
   maps this fixes almost every pixel, per pixel on the device for the GPU path;
2. the remaining pixels form a small graph, with the fixed neighbours folded into their
   terminal capacities, solved exactly by OR-Tools' max-flow (``SimpleMaxFlow``) on the host.
   Max-flow has no reasonable GPU formulation at this size, so only those pixels (index,
   value, two neighbour counts) go to the host and their labels come back;
3. the capacities are integers: costs are multiplied by 2**20 and rounded, so the result is
   the exact minimiser of that quantised energy (it differs from the real-valued one only
   when two labellings' energies are within about ``n / 2**20``); among equal minimisers
   the one with the fewest foreground pixels (the source side of the minimal cut) is taken.

ilastik cuts each time frame as a whole; step 1 is what keeps large frames cheap.

Examples
--------
>>> import numpy as np
>>> p = np.array([[0.9, 0.45, 0.9, 0.1]], np.float32)
>>> cut(p, beta=0.2).astype(int)  # 0.45 is pulled into the foreground by its two neighbours
array([[1, 1, 1, 0]])
>>> cut(p, beta=0.0).astype(int)
array([[1, 0, 1, 0]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend

SCALE = 2.0**20
"""Costs are multiplied by this and rounded to integer capacities."""


def rescale(volume: Any, threshold: float) -> Any:
    """ilastik's rescaling of the smoothed probability so that ``threshold`` maps to 0.5.

    Examples
    --------
    >>> import numpy as np
    >>> rescale(np.array([0.0, 0.25, 0.5, 1.0], np.float32), 0.5).tolist()
    [0.0, 0.25, 0.5, 1.5]
    """
    xp = backend.namespace_of(volume)
    v = volume.astype(xp.float32, copy=False)
    t = np.float32(threshold)
    below = v * np.float32(0.5 / threshold) if threshold > 0 else v
    above = np.float32(0.5) + (v - t) / np.float32(1.0 - threshold)
    return xp.where(v >= t, above, below).astype(xp.float32)


def _neighbour_counts(xp: Any, flags: Any) -> Any:
    """Per pixel of a ``(z, y, x)`` bool volume: how many face neighbours are set (uint8)."""
    f = flags.astype(xp.uint8)
    out = xp.zeros(f.shape, xp.uint8)
    for axis in range(3):
        n = f.shape[axis]
        if n < 2:
            continue
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, n - 1), slice(1, n)
        out[tuple(lo)] += f[tuple(hi)]
        out[tuple(hi)] += f[tuple(lo)]
    return out


def cut(p: Any, beta: float = 0.2) -> Any:
    """Minimise the Potts energy of the module docstring for rescaled probabilities ``p``.

    Parameters
    ----------
    p
        ``(z, y, x)`` or ``(y, x)`` rescaled probabilities (numpy or cupy; the device follows).
    beta
        Weight of a label change between face neighbours (ilastik's default 0.2).

    Returns
    -------
    array of bool
        Foreground, same shape and device as ``p``.

    Examples
    --------
    >>> import numpy as np
    >>> cut(np.array([[0.6, 0.4], [0.6, 0.4]], np.float32), beta=0.5).astype(int)
    array([[0, 0],
           [0, 0]])
    """
    xp = backend.namespace_of(p)
    shape = p.shape
    vol = xp.ascontiguousarray(p, dtype=xp.float32).reshape((-1,) + shape[-2:])
    pref = 2.0 * vol.astype(xp.float64) - 1.0
    degree = _neighbour_counts(xp, xp.ones(vol.shape, bool)).astype(xp.float64)
    free = xp.abs(pref) <= degree * float(beta)
    fg = (pref > 0) & ~free
    bg = (pref <= 0) & ~free
    idx = xp.flatnonzero(free)
    out = fg.ravel()
    if int(idx.size):
        n_fg = _neighbour_counts(xp, fg).ravel()[idx]
        n_bg = _neighbour_counts(xp, bg).ravel()[idx]
        p_free = vol.ravel()[idx]
        host = [backend.to_host(a) for a in (idx, p_free, n_fg, n_bg)]
        x = _min_cut(*host, vol.shape, float(beta))
        out[idx] = backend.to_device(x, backend.device_of(p))
    return out.reshape(shape)


def _min_cut(idx: np.ndarray, p: np.ndarray, n_fg: np.ndarray, n_bg: np.ndarray,
             shape: tuple[int, int, int], beta: float) -> np.ndarray:
    """Max-flow (OR-Tools) on the free pixels ``idx``; True where the minimiser says foreground."""
    from ortools.graph.python import max_flow  # noqa: PLC0415

    nz, ny, nx = shape
    m = idx.size
    source, sink = m, m + 1
    pref = np.rint((2.0 * p.astype(np.float64) - 1.0) * SCALE).astype(np.int64)
    b = int(np.rint(beta * SCALE))
    to_source = np.maximum(pref, 0) + b * n_fg.astype(np.int64)  # paid when the pixel is background
    to_sink = np.maximum(-pref, 0) + b * n_bg.astype(np.int64)  # paid when it is foreground
    nodes = np.arange(m, dtype=np.int64)
    tails = [np.full(m, source), nodes]
    heads = [nodes, np.full(m, sink)]
    caps = [to_source, to_sink]
    coords = np.unravel_index(idx, shape)
    for axis, step in enumerate((ny * nx, nx, 1)):
        ok = coords[axis] < shape[axis] - 1
        a = nodes[ok]
        j = idx[ok] + step
        pos = np.searchsorted(idx, j)
        hit = pos < m
        hit[hit] &= idx[pos[hit]] == j[hit]
        a, c = a[hit], pos[hit]
        tails += [a, c]
        heads += [c, a]
        caps += [np.full(a.size, b, np.int64)] * 2
    smf = max_flow.SimpleMaxFlow()
    smf.add_arcs_with_capacity(np.concatenate(tails), np.concatenate(heads), np.concatenate(caps))
    status = smf.solve(source, sink)
    if status != smf.OPTIMAL:  # pragma: no cover - capacities are far below int64 overflow
        raise RuntimeError(f"graph cut: max-flow status {status}")
    side = np.asarray(smf.get_source_side_min_cut(), dtype=np.int64)
    x = np.zeros(m, bool)
    x[side[side < m]] = True
    return x
