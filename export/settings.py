"""An export's settings: their defaults live here, and brainedge-export's options read them.

No TensorFlow here, so ``brainedge-export --help`` (and the tests) can read the defaults cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

from brainedge.edge_runtime.errors import BrainEdgeError, check_number
from brainedge.edge_runtime.variants import DEFAULT_VARIANTS

IO_DTYPES = ("uint8", "int8", "float32")
MIN_OOD_TRAIN_IMAGES = 100
MAX_OOD_COMPONENTS = 256
VERIFY_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ExportSettings:
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    representative: int = 200
    """Training images that calibrate the int8 variants' activation ranges."""
    io_dtype: str = "uint8"
    """Input/output type of full-integer TFLite models."""
    verify_split: str = "val"
    verify_limit: int | None = None
    min_agreement: float = 0.97
    """Top-1 agreement with the Keras model below which a bundle is not kept."""
    debug_threshold: float = 1.0
    """Accuracy points an int8 variant may lose against the float model before it is debugged per layer."""
    target_accuracy: float | None = None
    """Accuracy the accepted validation answers must reach; sets the referral threshold (None: the default)."""
    ood_rejection: float = 0.01
    """Share of validation images the out-of-distribution threshold may refuse."""
    ood_train_images: int = 1000
    """Training images (evenly drawn) the out-of-distribution model is fitted on."""
    ood_components: int = 64
    """Principal directions of the feature covariance kept in the head file (1280 x 64 floats: 320 kB)."""

    def check(self) -> None:
        """Refuse settings that cannot work, before any model is loaded."""
        check_number("--debug-threshold", self.debug_threshold, -100, 100)  # NaN would never debug; negative: always
        for ok, problem in (
            (
                self.target_accuracy is None or 0.0 < self.target_accuracy <= 1.0,
                f"--target-accuracy must be more than 0 and at most 1 (e.g. 0.995), got {self.target_accuracy}",
            ),
            (
                self.verify_limit is None or self.verify_limit >= 1,
                f"--verify-limit must be at least 1 (leave it out to verify on every image), got {self.verify_limit}",
            ),
            (
                0.0 < self.min_agreement <= 1.0,
                f"--min-agreement must be more than 0 and at most 1 (e.g. 0.97), got {self.min_agreement}",
            ),
            (
                0.0 < self.ood_rejection < 0.5,
                f"--ood-rejection must be more than 0 and less than 0.5 (e.g. 0.01), got {self.ood_rejection}",
            ),
            (
                self.ood_train_images >= MIN_OOD_TRAIN_IMAGES,
                f"--ood-train-images must be at least {MIN_OOD_TRAIN_IMAGES} (a covariance of 1280 features "
                f"from fewer is mostly noise), got {self.ood_train_images}",
            ),
            (
                1 <= self.ood_components <= MAX_OOD_COMPONENTS,
                f"--ood-components must be between 1 and {MAX_OOD_COMPONENTS} (each costs 5 kB of head file "
                f"and 1280 multiply-adds per image), got {self.ood_components}",
            ),
        ):
            if not ok:
                raise BrainEdgeError(problem)


DEFAULTS = ExportSettings()
