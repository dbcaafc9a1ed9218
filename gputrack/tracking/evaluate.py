"""Cell Tracking Challenge scores of a result folder against ground truth (py-ctcmetrics).

Examples
--------
>>> scores = ctc_scores("01_RES", "01_GT")          # doctest: +SKIP
>>> sorted(scores)                                  # doctest: +SKIP
['BC(0)', 'DET', 'LNK', 'TRA', 'Valid']
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError, MissingInputError

DEFAULT_METRICS = ("Valid", "DET", "TRA", "LNK", "BC")


def ctc_scores(
    result: str | os.PathLike,
    ground_truth: str | os.PathLike,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    threads: int = 1,
) -> dict[str, float]:
    """py-ctcmetrics scores of a CTC result folder against a ``NN_GT`` folder.

    Parameters
    ----------
    result
        Folder with ``maskTTT.tif`` and ``res_track.txt``.
    ground_truth
        Folder holding ``TRA/`` (and ``SEG/`` for the SEG metric).
    metrics
        py-ctcmetrics metric names (``Valid``, ``DET``, ``SEG``, ``TRA``, ``LNK``, ``BC``, ``CT``,
        ``TF``, ``CCA``, ...).
    threads
        Worker threads for py-ctcmetrics.

    Returns
    -------
    dict
        Metric name -> value (``BC`` gives ``BC(0)`` … as py-ctcmetrics names them).
    """
    res, gt = Path(result), Path(ground_truth)
    if not (res / "res_track.txt").is_file():
        raise MissingInputError(f"{res}: not a CTC result folder (no res_track.txt)")
    if not (gt / "TRA").is_dir():
        raise MissingInputError(f"{gt}: not a CTC ground-truth folder (no TRA/)")
    try:
        from ctc_metrics.scripts.evaluate import evaluate_sequence  # noqa: PLC0415
    except ImportError as err:  # pragma: no cover - a runtime dependency
        raise InputError(f"py-ctcmetrics is needed for CTC scores ({err})") from None
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        scores = evaluate_sequence(str(res), str(gt), list(metrics), threads=threads)
    return {k: float(v) for k, v in scores.items() if v is not None and not isinstance(v, (dict, list))}
