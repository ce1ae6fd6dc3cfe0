"""brainedge-train's command line without TensorFlow: what --resume tells the user it ignores."""

from __future__ import annotations

import dataclasses

from brainedge.train.cli import DEFAULTS, RESUME_OPTIONS, build_parser, given_options, ignored_on_resume, saved_setting


def parsed(argv: list[str]):
    args = build_parser().parse_args(argv)
    args.given = given_options(argv, args)
    return args


def test_every_option_maps_to_the_setting_a_run_saves() -> None:
    """A new option without a saved setting would make --resume fail or misreport it."""
    defaults = parsed([])
    for dest, value in vars(defaults).items():
        if dest not in (*RESUME_OPTIONS, "data", "given"):
            assert saved_setting(DEFAULTS, dest) == value, dest


def test_resume_names_the_typed_options_that_differ_from_the_run() -> None:
    saved = dataclasses.replace(DEFAULTS, seed=3, mixup=0.2, use_class_weights=False)
    same = ["--out", "run", "--resume", "--seed", "3", "--mixup", "0.2", "--no-class-weights", "--verbose"]
    assert ignored_on_resume(parsed(same), saved) == []
    other = ["--resume", "--seed=4", "--finetune-lr", "1e-4", "--data", "scans"]
    assert ignored_on_resume(parsed(other), saved) == ["--data scans", "--finetune-lr 0.0001", "--seed 4"]
    assert ignored_on_resume(parsed(["--resume"]), saved) == [], "an untyped default is not an ignored option"
