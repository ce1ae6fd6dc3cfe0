"""Training and export need TensorFlow; a device install ([edge]) does not have it. Say so first."""

from __future__ import annotations

import importlib.util

from brainedge.edge_runtime.errors import BrainEdgeError

TRAINING_MODULES = ("tensorflow", "tf_keras", "tensorflow_model_optimization")


def require_training_stack(command: str) -> None:
    """One line naming what is missing, before the command writes anything."""
    missing = [name for name in TRAINING_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise BrainEdgeError(
            f"{command} needs TensorFlow, which this environment lacks ({', '.join(missing)}): install brainedge "
            "with the [train] extra on a workstation; a device with [edge] only classifies and benchmarks"
        )
