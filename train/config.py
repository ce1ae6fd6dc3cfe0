"""A training run's settings: the recipe's defaults, owned here and read by the CLI.

No TensorFlow here, so ``brainedge-train --help`` and a resumed run's config.json are cheap to read.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.metadata import MOBILENET_MEAN, MOBILENET_STD, TRAINING_PIXEL_MEAN, TRAINING_PIXEL_STD

BLOCKS = 16
MAX_BATCH_SIZE = 4096
"""Per replica: far past what a GPU holds at 224 px; a huge number would spin in the input pipeline."""
MAX_INPUT_SIZE = 1024
"""Pixels a side: MobileNetV2 past this only costs memory (an out-of-memory traceback at 100,000)."""
"""MobileNetV2's block_1 … block_16, between its stem and its last 1x1 conv: what --finetune-blocks counts."""


@dataclass(frozen=True)
class ModelConfig:
    num_classes: int
    input_size: int = 224
    alpha: float = 1.0
    weights: str = "imagenet"
    """"imagenet" (Keras download), a path to a local .h5, or "none" (train from scratch)."""
    dropout: float = 0.2
    hidden_units: tuple[int, ...] = ()


@dataclass
class TrainConfig:
    """Every knob of a run; saved to config.json so export and resume read the same values.

    The defaults are the recipe measured on the 224 px MRI split (benchmarks/mri_224.sh);
    brainedge-train's option defaults are read from here.
    """

    model: ModelConfig
    batch_size: int = 32
    """Per replica; the global batch is this times the number of replicas."""
    head_epochs: int = 2
    finetune_epochs: int = 12
    finetune_blocks: str = "all"
    """How many of the 16 backbone blocks phase 2 unfreezes: a number, or "all"."""
    head_learning_rate: float = 1e-3
    finetune_learning_rate: float = 3e-4
    train_batch_norm: bool = False
    """Update batch-norm statistics while training; on by force when training from scratch."""
    patience: int = 4
    keep_last_epoch: bool = False
    """Run every epoch of each phase and keep the last one's weights, instead of the epoch with the best
    val_accuracy (and early stopping after ``patience`` epochs without gain)."""
    refit: bool = False
    """Train on the train and val splits together, every epoch, keeping the last one's weights (nothing
    is held out to choose by): a recipe's final model once its epochs are settled. Scores, temperature
    and not-recognised threshold measured on val then describe images the model was trained on."""
    label_smoothing: float = 0.0
    mixup: float = 0.0
    weight_decay: float = 0.0
    ema: float = 0.0
    """Alpha of mixup's Beta(alpha, alpha) blend of training images within a batch; 0 is off."""
    use_class_weights: bool = True
    qat_epochs: int = 1
    qat_learning_rate: float = 1e-5
    pixel_mean: float = TRAINING_PIXEL_MEAN
    pixel_std: float = TRAINING_PIXEL_STD
    seed: int = 0
    mixed_precision: str = "auto"
    cpu_replicas: int = 0
    """Split the CPU into this many logical devices under MirroredStrategy (tests, no GPU)."""

    @property
    def keeps_last_epoch(self) -> bool:
        return self.keep_last_epoch or self.refit

    @property
    def training_splits(self) -> tuple[str, ...]:
        """The manifest splits the model trains on (and its class weights count)."""
        return ("train", "val") if self.refit else ("train",)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def check(self) -> None:
        """Refuse settings that cannot train, before a run directory is written (so the same command,
        corrected, starts cleanly and --resume never repeats the mistake)."""
        model = self.model
        rules = [
            (
                1 <= self.batch_size <= MAX_BATCH_SIZE,
                f"--batch-size must be from 1 to {MAX_BATCH_SIZE}, got {self.batch_size}",
            ),
            (self.head_epochs >= 0, f"--head-epochs must be 0 or more, got {self.head_epochs}"),
            (self.finetune_epochs >= 0, f"--finetune-epochs must be 0 or more, got {self.finetune_epochs}"),
            (self.head_epochs + self.finetune_epochs >= 1, "--head-epochs and --finetune-epochs are both 0"),
            (self.qat_epochs >= 0, f"--qat-epochs must be 0 or more, got {self.qat_epochs}"),
            (self.patience >= 1, f"--patience must be at least 1, got {self.patience}"),
            (0.0 <= self.label_smoothing < 1.0, f"--label-smoothing must be in [0, 1), got {self.label_smoothing}"),
            (self.mixup >= 0.0 and math.isfinite(self.mixup), f"--mixup must be 0 or more, got {self.mixup}"),
            (
                self.weight_decay >= 0.0 and math.isfinite(self.weight_decay),
                f"--weight-decay must be 0 or more, got {self.weight_decay}",
            ),
            (0.0 <= self.ema < 1.0, f"--ema must be in [0, 1), got {self.ema}"),
            (0 <= self.seed < 2**32, f"--seed must be between 0 and 2**32 - 1, got {self.seed}"),
            (self.cpu_replicas >= 0, f"--cpu-replicas must be 0 or more, got {self.cpu_replicas}"),
            (self.mixed_precision in ("auto", "on", "off"), "--mixed-precision must be auto, on or off"),
            (bool(model.weights.strip()), "--weights is empty: give 'imagenet', a local .h5 file or 'none'"),
            (
                32 <= model.input_size <= MAX_INPUT_SIZE,
                f"--input-size must be from 32 to {MAX_INPUT_SIZE} pixels, got {model.input_size}",
            ),
            (model.alpha > 0, f"--alpha must be positive, got {model.alpha}"),
            (0.0 <= model.dropout < 1.0, f"--dropout must be in [0, 1), got {model.dropout}"),
            (all(units >= 1 for units in model.hidden_units), f"--hidden-units must be positive: {model.hidden_units}"),
            (
                self.finetune_blocks == "all"
                or (self.finetune_blocks.isdigit() and int(self.finetune_blocks) <= BLOCKS),
                f"--finetune-blocks must be 'all' or a number from 0 to {BLOCKS} (MobileNetV2's blocks), "
                f"not {self.finetune_blocks!r}",
            ),
        ]
        for name, rate in (
            ("--head-lr", self.head_learning_rate),
            ("--finetune-lr", self.finetune_learning_rate),
            ("--qat-lr", self.qat_learning_rate),
        ):
            rules.append((rate > 0 and math.isfinite(rate), f"{name} must be a positive number, got {rate}"))
            rules.append(
                (rate < 1, f"{name} {rate:g} is 1 or more: Adam's steps are about that size, and training diverges")
            )
            rules.append(
                (
                    rate * self.weight_decay < 1,
                    f"--weight-decay {self.weight_decay:g} times {name} {rate:g} is {rate * self.weight_decay:g}: "
                    "at 1 or more every step flips or zeroes the weights (decay is usually 1e-4 to 0.5)",
                )
            )
        for valid, message in rules:
            if not valid:
                raise BrainEdgeError(message)

    @classmethod
    def from_dict(cls, raw: Any) -> TrainConfig:
        """The settings as ``to_dict`` wrote them (config.json's ``train``), every key and type checked.

        A run saved before ``pixel_mean``/``pixel_std`` existed reads with MobileNet's values, as it trained.

        Args:
            raw: the decoded JSON object.

        Returns:
            The settings; their ranges are checked by ``check``.

        Raises:
            BrainEdgeError: a key this version does not know (a typo), a missing one, or a value of the wrong
                type, named by its path (``train.model.alpha``).
        """
        fields = _checked_fields(cls, raw, "train")
        model = _checked_fields(ModelConfig, fields.get("model"), "train.model")
        model["hidden_units"] = tuple(model.get("hidden_units", ()))
        legacy = {"pixel_mean": MOBILENET_MEAN[0], "pixel_std": MOBILENET_STD[0]}  # runs saved before these fields
        return cls(**{**legacy, **fields, "model": ModelConfig(**model)})


def _checked_fields(kind: type, raw: Any, where: str) -> dict[str, Any]:
    """``raw``'s fields when each is one of ``kind``'s, of its type, and none without a default is missing."""
    if not isinstance(raw, dict):
        raise BrainEdgeError(f"{where}: expected an object of settings, found {type(raw).__name__}")
    types = typing.get_type_hints(kind)
    if unknown := sorted(set(raw) - set(types)):
        raise BrainEdgeError(
            f"{where}: unknown setting(s) {', '.join(map(repr, unknown))} (a typo, or another version's)"
        )
    required = [
        field.name
        for field in dataclasses.fields(kind)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]
    if missing := [name for name in required if name not in raw]:
        raise BrainEdgeError(f"{where}: missing setting(s) {', '.join(map(repr, missing))}")
    for name, value in raw.items():
        expected = types[name]
        if expected is ModelConfig:
            continue  # checked field by field
        if not _is_of(value, expected):
            said = "a list of integers" if typing.get_origin(expected) is tuple else _TYPE_NAMES[expected]
            raise BrainEdgeError(f"{where}.{name}: expected {said}, found {value!r}")
    return dict(raw)


_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _is_of(value: Any, expected: Any) -> bool:
    """Whether a JSON value fits a settings field's type (an integer fits a float; a bool is no number)."""
    if typing.get_origin(expected) is tuple:
        return isinstance(value, (list, tuple)) and all(_is_of(item, typing.get_args(expected)[0]) for item in value)
    if expected is bool:
        return isinstance(value, bool)
    if expected in (int, float):
        return isinstance(value, (int, float) if expected is float else int) and not isinstance(value, bool)
    return isinstance(value, expected)


@dataclass(frozen=True)
class Phase:
    """One model.fit of the recipe: which layers it trains, how long and how fast."""

    name: str
    epochs: int
    learning_rate: float
    blocks: str
    """Top backbone blocks trained with the head: "0" (head only), a number or "all"."""
    batch_norm: bool
    """Whether batch-norm layers train (and update their moving statistics)."""
    cosine: bool


def phases(config: TrainConfig) -> list[Phase]:
    """Pretrained: head then fine-tune. From scratch there is nothing to protect: one phase, batch
    norm included."""
    if config.model.weights == "none":
        total = config.head_epochs + config.finetune_epochs
        return [Phase("scratch", total, config.head_learning_rate, "all", batch_norm=True, cosine=True)]
    return [
        Phase("head", config.head_epochs, config.head_learning_rate, "0", config.train_batch_norm, cosine=False),
        Phase(
            "finetune",
            config.finetune_epochs,
            config.finetune_learning_rate,
            config.finetune_blocks,
            config.train_batch_norm,
            cosine=True,
        ),
    ]


def qat_phase(config: TrainConfig) -> Phase:
    """Quantization-aware training trains what the last phase trained, at its own rate."""
    last = phases(config)[-1]
    return dataclasses.replace(
        last, name="qat", epochs=config.qat_epochs, learning_rate=config.qat_learning_rate, cosine=False
    )
