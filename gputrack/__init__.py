"""gputrack: ilastik-style pixel classification, objects and tracking on NVIDIA GPUs and CPUs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gputrack")
except PackageNotFoundError:  # running from a checkout without installing
    __version__ = "0.1.0"

from . import jitcache  # noqa: E402

jitcache.install()  # before any module with compiled functions is imported

from . import backend, errors  # noqa: E402

__all__ = ["__version__", "backend", "errors"]
