"""The ``gputrack`` command: a thin layer that parses options, calls a workflow and reports.

One module per subcommand; each has ``register(subparsers)``, which adds its parser and
sets ``func`` (called with the parsed arguments, returns the exit status). To add a
subcommand, write its module and name it in :data:`COMMANDS`. A parser may also set
``inputs`` and ``outputs`` (names of its path options): :func:`main` checks before any work
that the inputs exist, that the outputs can be written and that ``--device`` is usable.

User mistakes (:class:`gputrack.errors.GputrackError`) are printed on one line and the
command exits with status 2; no traceback.

Example
-------
>>> from gputrack.cli import main
>>> main(["info", "--device", "cpu", "--quiet"])
0
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import __version__
from ..errors import GputrackError, InputError, MissingInputError, one_line
from ._common import Parser

log = logging.getLogger("gputrack")

#: Subcommand modules of this package, in the order ``gputrack --help`` lists them.
COMMANDS = ("info", "synth", "ilp_info", "pixel", "segment", "objects", "track", "learn", "annotate",
            "export", "render", "demo", "ilastik_headless", "bench", "compile")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gputrack`` command."""
    parser = Parser(
        prog="gputrack",
        description="ilastik-style pixel classification, objects and tracking on GPUs and CPUs",
    )
    parser.add_argument("--version", action="version", version=f"gputrack {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (default: off)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    for leaf in _leaf_parsers(parser):
        leaf.formatter_class = DefaultsHelpFormatter
        if "-v" not in leaf._option_string_actions:
            leaf.add_argument(
                "-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                help="log what happens (default: off)",
            )
    return parser


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help lines end with the option's default when the text does not state it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {shown})"


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below ``parser`` that has no subcommands of its own."""
    leaves = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                leaves += _leaf_parsers(sub) or [sub]
    return leaves


def _configure_logging(verbose: bool) -> None:
    """gputrack's messages on stderr; readers' warnings (tifffile, ...) only with ``-v``."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("gputrack: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    for name in ("tifffile", "h5py", "zarr", "numcodecs"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)


def preflight(args: argparse.Namespace, command: argparse.ArgumentParser | None = None) -> None:
    """Before any work: the device is usable, the inputs exist, the outputs can be written."""
    from ..backend import resolve_device  # noqa: PLC0415
    from ..io.atomic import probe_writable  # noqa: PLC0415

    if getattr(args, "device", None) is not None:
        resolve_device(args.device)
    read: dict[Path, tuple[str, str]] = {}
    for name in getattr(args, "inputs", ()):
        values = getattr(args, name, None)
        for value in [values] if isinstance(values, str) else values or ():
            if not _input_exists(Path(value)):
                raise MissingInputError(f"{value}: no such file or folder ({_option_name(name, command)})")
            read.setdefault(_file_of(Path(value)), (name, value))
    for name in getattr(args, "outputs", ()):
        value = getattr(args, name, None)
        if value and _file_of(Path(value)) in read:
            source, given = read[_file_of(Path(value))]
            raise InputError(f"{_option_name(name, command)} {value}: is also an input "
                             f"({_option_name(source, command)} {given}); gputrack never writes over its "
                             "inputs, choose another output")
        if value:
            probe_writable(value)


def _file_of(path: Path) -> Path:
    """The file or folder ``path`` names, resolved; the file holding a dataset path (``file.h5/data``)."""
    if not path.exists():
        path = next((parent for parent in path.parents if parent.is_file()), path)
    return path.resolve()


def _input_exists(path: Path) -> bool:
    """The path exists, or a file above it does (``file.h5/dataset``)."""
    if path.exists():
        return True
    return any(parent.is_file() for parent in path.parents)


def _option_name(dest: str, command: argparse.ArgumentParser | None = None) -> str:
    """How the command spells the argument ``dest`` (``--from`` for ``source``, ``images``)."""
    for action in command._actions if command is not None else ():
        if action.dest == dest:
            return max(action.option_strings, key=len) if action.option_strings else dest
    return dest if dest in ("images", "input", "result", "project") else "--" + dest.replace("_", "-")


def cli_wording(message: str, parser: argparse.ArgumentParser) -> str:
    """Say ``--overwrite`` / ``--device cpu`` where the library says ``overwrite=True`` / ``device='cpu'``.

    Only names that are options of the command are rewritten.
    """
    options = _long_options(parser)

    def option(name: str) -> str | None:
        flag = "--" + name.replace("_", "-")
        return flag if flag in options else None

    def flag_true(m: re.Match) -> str:
        return option(m.group(1)) or m.group(0)

    def flag_value(m: re.Match) -> str:
        flag = option(m.group(1))
        return f"{flag} {m.group(2) or m.group(3)}" if flag else m.group(0)

    text = re.sub(r"\b([a-z][a-z_]*)=True\b", flag_true, message)
    text = re.sub(r"\b([a-z][a-z_]*)=(?:'([^']*)'|(-?[0-9][0-9.e+-]*))", flag_value, text)
    text = re.sub(r"\b([a-z][a-z_]*)=(?=[\s;,)]|$)", flag_true, text)  # "pass axes=" -> "pass --axes"
    return re.sub(r"(--[a-z-]+) \(\1\)", r"\1", text)


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    found: set[str] = set()
    for action in parser._actions:
        found.update(o for o in action.option_strings if o.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _long_options(sub)
    return found


def _os_error(err: OSError) -> str:
    where = err.filename or ""
    reason = err.strerror or str(err)
    return f"{where}: {reason}" if where else reason


def _first_run_hint(command: argparse.ArgumentParser) -> None:
    """On an install whose compile cache is still empty, say once why this run is slow."""
    from .. import jitcache  # noqa: PLC0415

    name = command.prog.split()[-1]
    if name == "compile":  # its own runs of the stages would say it: the mark is taken here
        jitcache.first_run()
    elif name not in ("info", "ilp-info", "gputrack") and jitcache.first_run():
        log.warning("first run here: numba compiles this command's CPU code (up to a minute; "
                    "'gputrack compile' builds it for every command once)")


def _quiet_teardown() -> None:
    """After a Ctrl-C, the interpreter's exit reports nothing more than the one line.

    An interrupt inside zarr's or tifffile's event loop leaves coroutines that were never awaited
    and pending tasks; their warnings at exit ("coroutine ... was never awaited", "Task was
    destroyed but it is pending!") would follow the line.
    """
    warnings.simplefilter("ignore")
    logging.getLogger("asyncio").setLevel(logging.CRITICAL + 1)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gputrack`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or a mistake already reported on one line
        return int(done.code or 0)
    _configure_logging(args.verbose)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    command = next((leaf for leaf in _leaf_parsers(parser) if leaf._defaults.get("func") is func), parser)
    try:
        preflight(args, command)
        _first_run_hint(command)
        return int(func(args) or 0)
    except GputrackError as err:
        print(f"gputrack: error: {one_line(cli_wording(str(err), command))}", file=sys.stderr)
        return 2
    except OSError as err:  # the file system refused (disk full, permissions, a damaged file)
        print(f"gputrack: error: {one_line(_os_error(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gputrack: interrupted", file=sys.stderr)
        _quiet_teardown()
        return 130
