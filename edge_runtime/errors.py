"""User-facing errors: the CLIs print these as one line, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.util
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, NoReturn, TypeVar

T = TypeVar("T")

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT, what a shell reports for a command stopped with Ctrl-C."""


class BrainEdgeError(Exception):
    """Bad input the user can fix: a corrupt image, a wrong model, a missing label file."""


def check_number(
    name: str, value: object, low: float | None = None, high: float | None = None, whole: bool = False
) -> None:
    """The one range check of a number from a user or a file: a real number (not a bool, not text),
    finite, within [low, high], and whole where asked. ``x < low`` alone lets NaN through.

    Raises:
        BrainEdgeError: in one line naming ``name``, what was expected and what was found.
    """
    expected = "a whole number" if whole else "a number"
    if low is not None and high is not None:
        expected += f" from {_bound(low)} to {_bound(high)}"
    elif low is not None:
        expected += f" of at least {_bound(low)}"
    elif high is not None:
        expected += f" of at most {_bound(high)}"
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        raise BrainEdgeError(f"{name} must be {expected}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise BrainEdgeError(f"{name} must be {expected}, got {value!r}")


def _bound(value: float) -> str:
    """``4294967295`` rather than ``4.29497e+09``; ``0.5`` as it is."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class OneLineParser(argparse.ArgumentParser):
    """A mistake on the command line is one line and exit 2, like every other refusal (argparse's
    own error prints the whole usage first, a dozen lines the reason is lost in)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"error: {message} ({self.prog} --help lists the options)\n")

    def _get_value(self, action: argparse.Action, arg_string: str) -> object:
        """An empty path (``--out "$UNSET"``) would be the current folder, read or written under a
        message about "."; every path option refuses it by name instead."""
        if action.type is Path and not arg_string.strip():
            raise argparse.ArgumentError(action, "an empty path (an unset shell variable?)")
        return super()._get_value(action, arg_string)


def missing_modules(names: tuple[str, ...]) -> list[str]:
    """Which of these modules this environment cannot import (an extra that was not installed)."""
    return [name for name in names if importlib.util.find_spec(name) is None]


def report_user_errors(command: Callable[[T], int], args: T) -> int:
    """Run a CLI command so that whatever goes wrong on the user's side is one line and an exit code.

    A BrainEdgeError is ``error: ...`` and exit 2; Ctrl-C is ``interrupted`` and exit 130; a
    closed pipe (``... | head``) ends quietly with exit 1; standard output or a file that cannot
    be written (a full disk, ``>/dev/full``) is one line naming it and exit 2.

    Libraries do not always let Ctrl-C's KeyboardInterrupt through: numpy, raised into while it
    converts a TensorShape, turns it into a TypeError a line later, and TensorFlow's input threads
    print it as "Exception ignored" and go on. So the signal itself is remembered: whatever a stopped
    command raises after it is reported as the interruption, and long loops poll stops_received()
    to end early. A command that returns normally after Ctrl-C (a server or kiosk stopping as asked)
    keeps its exit code.
    """
    stops_before = stops_received()
    with _ctrl_c_remembered():
        try:
            code = _one_line_errors(command, args)
        except Exception:
            if stops_received() == stops_before:
                raise
            code = EXIT_INTERRUPTED
        if code == EXIT_INTERRUPTED:
            print("interrupted", file=sys.stderr)
        return code


def stops_received() -> int:
    """How many Ctrl-Cs (or signals given to stop_like_ctrl_c) this process has received: a loop
    that compares it with its value at the start stops even if a library swallowed the interrupt."""
    return len(_stop_signals)


def stop_like_ctrl_c(signum: int) -> None:
    """Make this signal (systemd's SIGTERM) end a command the way Ctrl-C does."""
    signal.signal(signum, _stop)


_stop_signals: list[int] = []
"""Every Ctrl-C (or signal given to stop_like_ctrl_c) this process received."""


def _stop(signum: int, frame: object) -> None:
    _stop_signals.append(signum)
    raise KeyboardInterrupt


@contextlib.contextmanager
def _ctrl_c_remembered() -> Iterator[None]:
    """Route SIGINT through _stop, unless it is ignored (nohup) or handled by someone else."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    previous = signal.signal(signal.SIGINT, _stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _one_line_errors(command: Callable[[T], int], args: T) -> int:
    try:
        return command(args)
    except BrainEdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except OSError as error:
        if error.errno not in OUT_OF_SPACE:
            raise
        if error.filename is None:  # files are written through files.write_atomically, which names them
            _silence_stdout()
            print(f"error: cannot write to standard output ({os.strerror(error.errno)})", file=sys.stderr)
        else:
            print(
                f"error: {error.filename}: cannot write ({error.strerror}); any previous version is intact",
                file=sys.stderr,
            )
        return EXIT_USER_ERROR


OUT_OF_SPACE = (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EROFS)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail a second time."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
