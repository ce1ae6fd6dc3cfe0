"""A classify process carries only what it uses: the version lookup and serve's web stack stay out of it,
and the package's public names still import as before (they load on first use)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import pytest

import brainedge.edge_runtime as runtime

NOT_IN_A_CLASSIFY_PROCESS = (
    "importlib.metadata",
    "email",
    "tempfile",
    "fastapi",
    "starlette",
    "uvicorn",
    "brainedge.edge_runtime.serve",
)
"""Modules a classify process never needs unless asked: --version's lookup, the temporary files of what
writes bundles and outputs, the web server's stack."""


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def carried(modules: set[str]) -> list[str]:
    return sorted(
        m for m in modules if m.split(".")[0] in NOT_IN_A_CLASSIFY_PROCESS or m.startswith(NOT_IN_A_CLASSIFY_PROCESS)
    )


def test_the_classify_command_imports_no_version_lookup_and_no_web_stack() -> None:
    assert carried(modules_after("import brainedge.edge_runtime.cli")) == []
    # The check sees them when they are there: asking for the version brings importlib.metadata in.
    asked = modules_after("import brainedge.edge_runtime.cli, brainedge.edge_runtime as r; r.__version__")
    assert "importlib.metadata" in carried(asked)


def test_a_module_of_the_runtime_does_not_bring_the_classifier() -> None:
    """Training and the studies import errors or files; the package's names load only when used."""
    assert "brainedge.edge_runtime.classifier" not in modules_after("import brainedge.edge_runtime.errors")
    assert "brainedge.edge_runtime.classifier" in modules_after("from brainedge.edge_runtime import Classifier")


def test_the_public_names_import_as_before() -> None:
    from brainedge.edge_runtime import (
        BrainEdgeError,
        Bundle,
        BundleMetadata,
        Classifier,
        InputSpec,
        OutputSpec,
        Prediction,
        Quantization,
        __version__,
        bundle,
        classifier,
        errors,
        streaming,
    )
    from brainedge.edge_runtime import metadata as runtime_metadata

    assert (Bundle, Classifier, Prediction, BrainEdgeError) == (
        bundle.Bundle,
        classifier.Classifier,
        classifier.Prediction,
        errors.BrainEdgeError,
    )
    assert (BundleMetadata, InputSpec, OutputSpec, Quantization) == (
        runtime_metadata.BundleMetadata,
        runtime_metadata.InputSpec,
        runtime_metadata.OutputSpec,
        runtime_metadata.Quantization,
    )
    assert __version__ == metadata.version("brainedge") and streaming.__name__ == "brainedge.edge_runtime.streaming"
    assert set(runtime.__all__) <= set(dir(runtime))
    with pytest.raises(AttributeError, match="has no attribute 'Classifer'"):
        runtime.Classifer  # noqa: B018  (a misspelt name is an AttributeError, not a lookup of something else)


def test_version_is_looked_up_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    from brainedge.edge_runtime.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"brainedge-classify {metadata.version('brainedge')}\n"
