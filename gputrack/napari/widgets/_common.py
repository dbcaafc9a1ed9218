"""Shared widget plumbing: one-line error notifications, workers with napari's progress."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info

from ...errors import GputrackError

USER_ERRORS = (GputrackError, ValueError, FileNotFoundError)
"""Exceptions that are a user's mistake: shown as a one-line notification, no traceback."""


def report(exc: BaseException) -> None:
    """Show a user mistake as a napari notification (its first line), re-raise anything else."""
    if not isinstance(exc, USER_ERRORS):
        raise exc
    show_error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def user_action(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a button handler: user mistakes become a notification instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            report(exc)
            return None

    return wrapper


def start_worker(
    func: Callable[..., Any],
    *args: Any,
    desc: str,
    on_return: Callable[[Any], None] | None = None,
    on_yield: Callable[[Any], None] | None = None,
    **kwargs: Any,
):
    """Run ``func`` in a napari worker thread with an activity-dock progress bar named ``desc``.

    Errors that are user mistakes become notifications; ``on_return`` / ``on_yield`` run on the
    UI thread. Returns the started worker (``worker.quit()`` cancels a generator at its next yield).
    """
    connect: dict[str, Any] = {"errored": report}
    if on_return is not None:
        connect["returned"] = on_return
    if on_yield is not None:
        connect["yielded"] = on_yield
    return create_worker(func, *args, _progress={"desc": desc}, _connect=connect, **kwargs)


def info(text: str) -> None:
    """A short status notification."""
    show_info(text)


def camera_of(viewer):
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera
