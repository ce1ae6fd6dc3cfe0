"""The layers point one way, and TensorFlow stays out of everything a device runs.

contract (errors, cli_help, files, formats, metadata, bundle, preprocess, manifest, metrics)
  < runtime (the rest of edge_runtime)
  < train < export (on the contract and the runtime)
  ; the benchmark harness (brainedge-bench) on the contract and the runtime only
  ; the demo, the studies and the Android tools on top of everything.
The web stack (FastAPI, uvicorn) stays inside edge_runtime.serve: a device with [edge] alone lacks it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
    "edge_runtime": "brainedge.edge_runtime",
    "train": "brainedge.train",
    "export": "brainedge.export",
    "benchmarks": "brainedge.benchmarks",
}
CONTRACT = {
    f"brainedge.edge_runtime.{name}"
    for name in ("errors", "cli_help", "files", "formats", "metadata", "bundle", "preprocess", "manifest", "metrics")
}
TOP = ("brainedge.benchmarks.studies", "brainedge.export.demo", "android_demo.tools")
ALLOWED = {
    "contract": {"contract"},
    "runtime": {"contract", "runtime"},
    "train": {"contract", "runtime", "train"},
    "export": {"contract", "runtime", "train", "export"},
    "bench": {"contract", "runtime", "bench"},
    "top": {"contract", "runtime", "train", "export", "bench", "top"},
}
NO_TENSORFLOW = {"contract", "runtime", "bench"}
TENSORFLOW_MODULES = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "tf2onnx")
SERVE = "brainedge.edge_runtime.serve"
WEB_STACK = ("fastapi", "starlette", "uvicorn", "python_multipart", "pydantic", "anyio", "httpx")
"""What brainedge[serve] adds; only SERVE may import it (and SERVE's cli only once it has checked it is there)."""


def layer_of(module: str) -> str:
    if module.startswith(TOP):
        return "top"
    if module in CONTRACT:
        return "contract"
    for prefix, layer in (
        ("brainedge.edge_runtime", "runtime"),
        ("brainedge.train", "train"),
        ("brainedge.export", "export"),
        ("brainedge.benchmarks", "bench"),
    ):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    raise ValueError(f"{module}: in no layer")


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[0] in FOLDERS:
        parts[0] = FOLDERS[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str) -> list[str]:
    """Every module an import statement names, relative imports resolved against ``module``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names if is_project_module(f"{base}.{alias.name}")]
    return found


def is_project_module(name: str) -> bool:
    """``from brainedge.benchmarks.studies import overhead`` imports a module; ``... import Classifier`` does not."""
    if not name.startswith("brainedge."):
        return False
    head, _, rest = name.removeprefix("brainedge.").partition(".")
    path = ROOT / head / rest.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def violations(source: str, module: str) -> list[str]:
    layer = layer_of(module)
    problems = []
    for name in imported_modules(source, module):
        outside_serve = layer in NO_TENSORFLOW and not module.startswith(SERVE)
        if outside_serve and (name.split(".")[0] in WEB_STACK or name.startswith(SERVE)):
            problems.append(f"{module} ({layer}) imports {name}: only {SERVE} may, [edge] has no web stack")
        elif name.split(".")[0] in ("train", "export", "edge_runtime", "benchmarks"):
            problems.append(f"{module} imports {name}: un-namespaced (use brainedge.{name})")
        elif name.startswith("brainedge."):
            target = layer_of(name)
            if target not in ALLOWED[layer]:
                problems.append(f"{module} ({layer}) imports {name} ({target})")
        elif layer in NO_TENSORFLOW and name.split(".")[0] in TENSORFLOW_MODULES:
            problems.append(f"{module} ({layer}) imports {name}: no TensorFlow on a device")
    return problems


def project_files() -> list[Path]:
    files = [p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")]
    return sorted(files + list((ROOT / "android_demo/tools").glob("*.py")))


def test_every_import_points_down_the_layers() -> None:
    problems = [
        problem
        for path in project_files()
        for problem in violations(path.read_text(encoding="utf-8"), module_name(path))
    ]
    assert problems == []


@pytest.mark.parametrize(
    "module, reversed_import",
    [
        ("brainedge.edge_runtime.classifier", "from brainedge.train.model import build_model"),
        ("brainedge.edge_runtime.metadata", "from brainedge.edge_runtime.classifier import Classifier"),
        ("brainedge.train.trainer", "from brainedge.export.exporter import export_run"),
        ("brainedge.benchmarks.harness", "import brainedge.train.pipeline"),
        ("brainedge.benchmarks.runner", "from brainedge.benchmarks.studies import overhead"),
        ("brainedge.edge_runtime.cli", "import tensorflow as tf"),
        ("brainedge.edge_runtime.classifier", "from fastapi import FastAPI"),
        ("brainedge.benchmarks.harness", "from brainedge.edge_runtime.serve.app import create_app"),
        ("brainedge.train.cli", "from edge_runtime.errors import BrainEdgeError"),
    ],
)
def test_a_reversed_arrow_is_caught(module: str, reversed_import: str) -> None:
    path = ROOT / (module.removeprefix("brainedge.").replace(".", "/") + ".py")
    source = path.read_text(encoding="utf-8")
    assert violations(source, module) == []
    assert violations(source + "\n" + reversed_import + "\n", module) != []


def test_the_runtime_loads_no_web_stack_until_the_server_starts() -> None:
    """Everything an [edge] install runs, and brainedge-serve's command line before its check, load no FastAPI."""
    needing_it = {f"{SERVE}.app", f"{SERVE}.uploads"}
    modules = sorted(
        {module_name(path) for path in (ROOT / "edge_runtime").rglob("*.py") if path.name != "__main__.py"} - needing_it
    )
    code = (
        "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(WEB_STACK)!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{SERVE}.cli" in modules and done.stdout.strip() == "[]"


def test_no_sys_path_manipulation() -> None:
    offenders = [
        str(path.relative_to(ROOT)) for path in project_files() if "sys.path" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_only_the_bundle_type_reads_or_writes_metadata_json() -> None:
    """Everything else goes through Bundle (edge_runtime/bundle.py) and BundleMetadata."""
    # make_golden.py only names the file in the refusal messages it records, as the app's parser does
    allowed = {"edge_runtime/bundle.py", "edge_runtime/metadata.py", "android_demo/tools/make_golden.py"}
    offenders = []
    for path in project_files():
        text = path.read_text(encoding="utf-8")
        if str(path.relative_to(ROOT)) not in allowed and ("METADATA_FILE" in text or '"metadata.json"' in text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


@pytest.mark.tensorflow
def test_every_module_imports() -> None:
    """A renamed or removed name fails here, not in the first user's hands (one process, TF loaded once)."""
    modules = sorted(
        {
            module_name(path)
            for path in project_files()
            if not path.parts[-3:-1] == ("android_demo", "tools") and path.name != "__main__.py"
        }
    )
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
