"""Where numba keeps gputrack's compiled code: a cache inside the package, built at install.

gputrack's CPU code is numba-compiled on its first call and cached (``cache=True``). numba's
default places are ``__pycache__`` beside each source or ``NUMBA_CACHE_DIR``; gputrack's own
functions go to ``gputrack/_jitcache/`` instead, so that ``gputrack compile`` (which ``make``
runs at install) builds the cache once and every later run on this machine loads it, whatever
``NUMBA_CACHE_DIR`` says. numba checks each entry against the sha256 of its source file and the
CPU it was compiled for: an edited file, or another CPU, compiles again (and is cached again).

``GPUTRACK_JIT_CACHE`` names another folder for that cache, or ``off`` for numba's own places.
Where the package folder cannot be written, gputrack's functions use numba's own places too.

Example
-------
>>> cache_root() is None or cache_root().name in ("_jitcache", cache_root().name)
True
"""

from __future__ import annotations

import os
from pathlib import Path

from numba.core import caching

PACKAGE = Path(__file__).resolve().parent


def cache_root() -> Path | None:
    """The folder holding gputrack's compiled code, or ``None`` for numba's own places.

    >>> os.environ.get("GPUTRACK_JIT_CACHE") == "off" or isinstance(cache_root(), Path)
    True
    """
    setting = os.environ.get("GPUTRACK_JIT_CACHE", "").strip()
    if setting.lower() == "off":
        return None
    return Path(setting).expanduser().resolve() if setting else PACKAGE / "_jitcache"


def first_run() -> bool:
    """True once on an install whose cache holds nothing yet (before ``gputrack compile``).

    The first call that finds the cache empty leaves a mark in it, so the answer is True at
    most once per cache folder.

    >>> isinstance(first_run(), bool)
    True
    """
    root = cache_root()
    if root is None or any(root.glob("*/*.nbi")) or (root / ".first-run").exists():
        return False
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / ".first-run").touch()
    except OSError:  # read-only install: numba's places hold the cache, no hint
        return False
    return True


class PackageCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """numba cache locator for functions defined in gputrack's own source files.

    The cache of ``gputrack/a/b.py`` lives in ``<cache_root>/a``: the layout follows the
    package, not the absolute path of the install, so a moved checkout keeps its cache.
    """

    def __init__(self, py_func, py_file: str, root: Path, rel: Path):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(root / rel)

    def get_cache_path(self) -> str:
        return self._cache_path

    @classmethod
    def from_function(cls, py_func, py_file: str):
        root = cache_root()
        if root is None or not os.path.exists(py_file):
            return None
        try:
            rel = Path(py_file).resolve().parent.relative_to(PACKAGE)
        except ValueError:  # not one of gputrack's files
            return None
        self = cls(py_func, py_file, root, rel)
        try:
            self.ensure_cache_path()
        except OSError:  # read-only install: numba's own places
            return None
        return self


def install() -> None:
    """Put :class:`PackageCacheLocator` first among numba's cache locators (once).

    Called by ``import gputrack`` before any compiled function is defined; numba chooses a
    function's locator when its dispatcher is created. ``NUMBA_CACHE_LOCATOR_CLASSES``, when a
    user sets it, still overrides every locator.
    """
    classes = caching.CacheImpl._locator_classes
    if PackageCacheLocator not in classes:
        classes.insert(0, PackageCacheLocator)


def warm_up(workdir: str | os.PathLike) -> int:
    """Run every stage once on small synthetic data, so that numba compiles (and caches) the
    code each stage calls with the argument types the commands pass it; the number of
    functions compiled (0 when the cache already holds them all).

    The stages: the demo pipeline (2D features, forest training and prediction, thresholds,
    objects, tracking with drift and divisions, exports, scores); ``gputrack track`` with CTC
    export on 2D CTC folders (flow and ILP solver) and a 3D one; every feature family in 2D
    and 3D. Their outputs go to ``workdir``.
    """
    import numpy as np  # noqa: PLC0415
    from numba.core import event  # noqa: PLC0415

    from .cli import main  # noqa: PLC0415
    from .datasets import synthetic_timelapse, write_synthetic_ctc  # noqa: PLC0415
    from .features import FEATURE_IDS, compute  # noqa: PLC0415

    work = Path(workdir)
    compiled = []

    class Count(event.Listener):
        def on_start(self, e):
            compiled.append(e)

        def on_end(self, e):
            pass

    with event.install_listener("numba:compile", Count()):
        codes = [main(["demo", "--out", str(work / "demo"), "--quiet", "--device", "cpu"])]
        cases = (("2d", (96, 96), "flow"), ("ilp", (96, 96), "ilp"), ("3d", (10, 40, 40), "flow"))
        for name, shape, solver in cases:
            ctc = write_synthetic_ctc(work / f"ctc-{name}", synthetic_timelapse(
                n_frames=5, shape=shape, n_cells=6, seed=1))
            codes.append(main(["track", "--raw", str(ctc / "01"), "--labels", str(ctc / "01_GT" / "TRA"),
                               "--export", "ctc", "--solver", solver, "--out", str(work / f"track-{name}"),
                               "--quiet", "--device", "cpu"]))
        every = {name: [1.0] for name in FEATURE_IDS}
        for shape in ((24, 20, 22), (30, 28)):  # 3D and 2D features of every family, float32 input
            compute(np.zeros(shape, np.float32), every, device="cpu")
    if any(codes):
        raise RuntimeError(f"gputrack compile: a stage failed (exit codes {codes})")
    return len(compiled)
