"""A real napari viewer for the plugin's tests (run under ``xvfb-run``: see ``.ci/napari-tests``).

The tests skip without the ``napari`` extra or without a display. Screenshots go to
``$GPUTRACK_SCREENSHOTS`` when set (the README's pictures), else to the test's temporary folder.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest


def _why_not() -> str | None:
    try:
        import napari  # noqa: F401
    except ImportError:
        return "the napari extra is not installed (pip install '.[napari]')"
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not display:
        return "no display: run the napari tests under xvfb-run (.ci/napari-tests)"
    return None


SKIP_REASON = _why_not()


def require_viewer() -> None:
    """Skip the calling test module when no napari viewer can open (call it before importing napari)."""
    if SKIP_REASON:
        pytest.skip(SKIP_REASON, allow_module_level=True)

MANIFEST = Path(__file__).resolve().parents[2] / "gputrack" / "napari" / "napari.yaml"


@pytest.fixture(scope="session")
def plugin():
    """The plugin's manifest, registered with npe2 (also when gputrack is not pip-installed here)."""
    from npe2 import PluginManager, PluginManifest

    pm = PluginManager.instance()
    if "gputrack" not in pm:
        pm.register(PluginManifest.from_file(MANIFEST))
    return pm.get_manifest("gputrack")


@pytest.fixture
def viewer(plugin):
    import napari
    from qtpy.QtCore import QThreadPool
    from qtpy.QtWidgets import QApplication

    v = napari.Viewer(show=True)
    v.window._qt_window.resize(1400, 900)
    yield v
    # workers still finishing would signal into deleted Qt objects: let them end first
    QThreadPool.globalInstance().waitForDone(60_000)
    QApplication.processEvents()
    v.close()


def wait_until(condition, timeout: float = 180.0) -> None:
    """Process Qt events until ``condition()`` is true (worker threads report through them); the
    timeout is generous: a loaded CI machine runs the workers many times slower."""
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("condition not met in time")
        QApplication.processEvents()
        time.sleep(0.01)


@pytest.fixture
def screenshot(tmp_path):
    """``screenshot(viewer, name)`` writes the whole window to ``NAME.png`` and returns its path."""
    folder = Path(os.environ.get("GPUTRACK_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)

    def take(v, name: str) -> Path:
        from qtpy.QtWidgets import QApplication

        for _ in range(5):
            QApplication.processEvents()
        path = folder / f"{name}.png"
        v.screenshot(path=str(path), canvas_only=False, flash=False)
        return path

    return take


@pytest.fixture
def notifications():
    """The napari notifications dispatched during a test, as ``(severity, message)`` (errors of user
    mistakes must be one-line ERROR notifications, never an exception with a traceback)."""
    from napari.utils.notifications import notification_manager

    seen: list = []

    def record(n) -> None:
        seen.append((str(n.severity), n.message, type(n).__name__))

    notification_manager.notification_ready.connect(record)
    yield seen
    notification_manager.notification_ready.disconnect(record)


def errors(seen) -> list[str]:
    """The one-line messages of the ERROR notifications in ``seen`` (none may carry a traceback)."""
    assert all(kind == "Notification" for sev, _, kind in seen if sev == "error"), seen
    return [msg for sev, msg, _ in seen if sev == "error"]
