"""Errors that gputrack raises for user mistakes.

Every error a user can cause by passing a wrong file, dataset, axis or option is a
:class:`GputrackError`. Its message is one line that names the culprit and says what was
expected; the command line prints it without a traceback and exits with status 2.

Example
-------
>>> from gputrack.errors import InputError
>>> try:
...     raise InputError("image.tif: axes 'yx' do not fit shape (3, 4, 5)")
... except InputError as err:
...     print(err)
image.tif: axes 'yx' do not fit shape (3, 4, 5)
"""

from __future__ import annotations


class GputrackError(Exception):
    """Base class of every error caused by user input or the environment."""


class InputError(GputrackError, ValueError):
    """An input (file, dataset, axes, parameter) is not what was expected."""


class MissingInputError(InputError, FileNotFoundError):
    """A file, folder or dataset that was named does not exist."""


class OutputExistsError(GputrackError, FileExistsError):
    """An output exists and ``overwrite`` was not given."""


class OutputNotWritableError(GputrackError, PermissionError):
    """An output location cannot be written (read-only, a file where a folder must be, ...)."""


class DeviceError(GputrackError, RuntimeError):
    """The requested compute device is not available."""


def one_line(message: str) -> str:
    """Fold a message onto one line (the CLI's error format)."""
    return " ".join(str(message).split())
