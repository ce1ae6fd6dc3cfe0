"""What every command that needs TensorFlow does before its work: say so if TensorFlow is missing
(a device install, [edge], has the commands but not the stack), keep its chatter off the terminal
unless --verbose, and turn user errors into one line."""

from __future__ import annotations

import argparse
from typing import Callable

from brainedge.edge_runtime.errors import BrainEdgeError, missing_modules, report_user_errors
from brainedge.train.quiet import quiet_tensorflow

TRAINING_MODULES = ("tensorflow", "tf_keras", "tensorflow_model_optimization")


def require_training_stack(command: str) -> None:
    """One line naming what is missing, before the command writes anything."""
    missing = missing_modules(TRAINING_MODULES)
    if missing:
        raise BrainEdgeError(
            f"{command} needs TensorFlow, which this environment lacks ({', '.join(missing)}): install brainedge "
            "with the [train] extra on a workstation; a device with [edge] only classifies and benchmarks"
        )


def add_verbose_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose", action="store_true", help="also show TensorFlow's own start-up and converter messages"
    )


def run_training_command(command: str, run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``run(args)`` as a CLI: the stack checked first, TensorFlow quiet unless ``args.verbose``."""

    def checked(parsed: argparse.Namespace) -> int:
        require_training_stack(command)
        return run(parsed)

    quiet_tensorflow(args.verbose)
    return report_user_errors(checked, args)
