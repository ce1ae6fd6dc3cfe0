"""brainedge-export's options as a user types them (parsed only: no TensorFlow, no run)."""

from __future__ import annotations

import pytest

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.variants import DEFAULT_VARIANTS, VARIANT_NAMES, variant_named
from brainedge.export.cli import build_parser, settings_from_args


@pytest.mark.parametrize("option", ["--variants", "--formats"])
def test_variants_are_picked_by_their_option_and_its_old_name(option: str) -> None:
    """--formats was the option's earlier name: the commands in older records still run."""
    args = build_parser().parse_args(["runs/mri", option, "tflite_float32", "onnx_int8"])
    assert settings_from_args(args).variants == ("tflite_float32", "onnx_int8")


def test_the_default_variants_are_the_tables() -> None:
    assert settings_from_args(build_parser().parse_args(["runs/mri"])).variants == DEFAULT_VARIANTS
    assert set(DEFAULT_VARIANTS) <= set(VARIANT_NAMES)


def test_an_unknown_variant_is_named_with_the_choices() -> None:
    with pytest.raises(BrainEdgeError, match=r"unknown variant 'tflite_int4'; choose from tflite_float32, "):
        variant_named("tflite_int4")
