"""A transition model for large motions: displacements consistent within a neighbourhood.

After a first solve, each detection is given the median displacement of the links that leave
its ``k`` nearest neighbours of the same frame (itself included) — the local drift of the
tissue, colony or flow it sits in. A second graph searches each detection's successors around
its position moved by that drift (:func:`gputrack.tracking.build_graph` with ``offsets``). The
pipeline keeps the drift model only when it lowers the tracking energy
(:func:`relative_energy`), so on data without coherent motion nothing changes.

Examples
--------
>>> import pandas as pd
>>> from gputrack.tracking import track
>>> df = pd.DataFrame({"t": [0, 0, 1, 1], "label": [1, 2, 1, 2], "y": [10., 40., 20., 50.],
...                    "x": [10., 10., 10., 10.]})
>>> neighbourhood_offsets(track(df))[:2, 1].tolist()
[10.0, 10.0]
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..threads import thread_map
from .solution import Solution


def neighbourhood_offsets(solution: Solution, k: int = 7) -> np.ndarray:
    """Median displacement of the links leaving each detection's ``k`` nearest neighbours.

    Parameters
    ----------
    solution : Solution
        A solved tracking; its used links (one successor: moves, not divisions) give the
        displacements, measured between the detections' centres.
    k : int
        Neighbours in the same frame (the detection itself included) whose displacements vote.

    Returns
    -------
    (n, 3) float64
        Predicted displacement of each detection to the next frame (0 where no neighbour has a
        link), in the units of ``solution.graph.positions``.
    """
    g = solution.graph
    n = g.n_nodes
    out = np.zeros((n, 3))
    if g.n_links == 0:
        return out
    used = solution.link_value > 0
    single = np.bincount(g.src[used], minlength=n) == 1
    keep = used & single[g.src]
    disp = np.full((n, 3), np.nan)
    disp[g.src[keep]] = g.positions[g.dst[keep]] - g.positions[g.src[keep]]
    frames, starts = np.unique(g.t, return_index=True)
    ends = np.append(starts[1:], n)

    def frame(a: int, b: int) -> None:  # cKDTree's queries release the GIL: frames on every core
        have = np.flatnonzero(~np.isnan(disp[a:b, 0])) + a
        if have.size == 0:
            return
        kk = min(int(k), have.size)
        _, idx = cKDTree(g.positions[have]).query(g.positions[a:b], k=kk)
        idx = np.asarray(idx).reshape(b - a, kk)
        out[a:b] = np.median(disp[have][idx], axis=1)

    thread_map(frame, starts.tolist(), ends.tolist())
    return out


def relative_energy(solution: Solution) -> float:
    """The energy of what a tracking does, comparable across candidate graphs.

    The total energy also counts the "unused" state of every candidate link, which depends on
    the candidates a motion model proposes rather than on the tracking; leaving those terms out
    gives the cost of the detections, appearances, disappearances, used links and divisions.
    """
    e = solution.energies
    unused = solution.link_value == 0
    base = float(e.link[unused, 0].sum()) if e.link.size else 0.0
    return float(solution.energy) - base
