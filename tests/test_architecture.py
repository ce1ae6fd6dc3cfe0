"""The layers point one way, and TensorFlow stays out of everything a device runs.

contract (errors, cli_help, files, variants, metadata, bundle, preprocess, manifest, metrics)
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
import types
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
    for name in ("errors", "cli_help", "files", "variants", "metadata", "bundle", "preprocess", "manifest", "metrics")
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


# --- one way from an image to an answer ------------------------------------------------------------

CLASSIFIER = "edge_runtime/classifier.py"
ENGINE = "edge_runtime/engine.py"
MOST_PUBLIC_METHODS = 5


def public_methods(cls: type) -> list[str]:
    """A class's own callable routes: functions, class and static methods without a leading underscore
    (properties are read-only facts, not routes)."""
    routes = (types.FunctionType, classmethod, staticmethod)
    return [name for name, value in vars(cls).items() if not name.startswith("_") and isinstance(value, routes)]


def private_parts(source: str) -> set[str]:
    """The underscore names ``class Classifier`` defines in ``source``: its methods and its ``self._x`` attributes."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == "Classifier":
            for inner in ast.walk(node):
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(inner.name)
                elif (
                    isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name) and inner.value.id == "self"
                ):
                    names.add(inner.attr)
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def reaches_into(source: str, private: set[str]) -> list[str]:
    """Each ``x._part`` of ``source`` naming one of the Classifier's private parts, on anything but self or cls."""
    return [
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and node.attr in private
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]


def uses_both(source: str, module: str) -> bool:
    """Whether a module imports the public ``Classifier`` and also the engine's steps (``Engine``)."""
    classifier, engine = False, False
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {alias.name for alias in node.names}
            if node.module in ("brainedge.edge_runtime", "brainedge.edge_runtime.classifier") and "Classifier" in names:
                classifier = True
            engine |= node.module == "brainedge.edge_runtime.engine" and "Engine" in names
            engine |= node.module == "brainedge.edge_runtime" and "engine" in names
        elif isinstance(node, ast.Import):
            engine |= any(alias.name == "brainedge.edge_runtime.engine" for alias in node.names)
    return classifier and engine and module not in ("brainedge.edge_runtime.classifier",)


def test_the_classifier_has_at_most_five_public_methods() -> None:
    from brainedge.edge_runtime.classifier import Classifier

    assert Classifier.__mro__ == (Classifier, object)  # no routes inherited from elsewhere
    assert len(public_methods(Classifier)) <= MOST_PUBLIC_METHODS, public_methods(Classifier)


def test_a_sixth_public_method_is_counted() -> None:
    routes = {f"route_{i}": (lambda self: None) for i in range(5)}
    wider = type("Wider", (), {**routes, "made": classmethod(lambda cls: None), "fact": property(lambda self: 1)})
    narrower = type("Narrower", (), {**routes, "_step": lambda self: None, "fact": property(lambda self: 1)})
    assert len(public_methods(wider)) == 6 > MOST_PUBLIC_METHODS
    assert len(public_methods(narrower)) == 5  # private steps and properties are not routes


def test_no_module_reaches_into_the_classifiers_private_parts() -> None:
    """Callers use the public surface or edge_runtime/engine.py, never the Classifier's insides."""
    private = private_parts((ROOT / CLASSIFIER).read_text(encoding="utf-8"))
    assert {"_engine", "_options"} <= private  # what a caller would reach for
    tests = [path for path in sorted((ROOT / "tests").rglob("*.py")) if path.name != Path(__file__).name]
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in project_files() + tests
        if str(path.relative_to(ROOT)) not in (CLASSIFIER, ENGINE)
        and (found := reaches_into(path.read_text(encoding="utf-8"), private))
    }
    assert offenders == {}


def test_reaching_into_the_classifier_is_caught() -> None:
    private = private_parts((ROOT / CLASSIFIER).read_text(encoding="utf-8"))
    source = (ROOT / "benchmarks/runner.py").read_text(encoding="utf-8")
    assert reaches_into(source, private) == []
    line = source.count("\n") + 2
    assert reaches_into(source + "\nclassifier._engine.run(batch)\n", private) == [f"line {line}: ._engine"]


def test_no_caller_mixes_the_classifier_and_the_engine() -> None:
    """A module classifies through ``Classifier`` or takes the steps apart through ``Engine``, not both
    (tests may: they check one against the other)."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in project_files()
        if uses_both(path.read_text(encoding="utf-8"), module_name(path))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "added",
    [
        "from brainedge.edge_runtime.engine import Engine",
        "from brainedge.edge_runtime import engine",
        "import brainedge.edge_runtime.engine",
    ],
)
def test_a_mix_is_caught(added: str) -> None:
    source = (ROOT / "edge_runtime/cli.py").read_text(encoding="utf-8")
    assert not uses_both(source, "brainedge.edge_runtime.cli")
    assert uses_both(source + "\n" + added + "\n", "brainedge.edge_runtime.cli")


# --- one scoring path --------------------------------------------------------------------------------

ACCURACY_FORMULA = "edge_runtime/metrics.py"
"""Where ``accuracy`` is computed; ``edge_runtime/scoring.py`` is the one caller that scores bundles with it."""
ACCURACY_CALLERS = {ACCURACY_FORMULA, "edge_runtime/scoring.py"}
MEANS = {"mean", "nanmean", "average"}
WRAPPERS = {"asarray", "array"}


def _names_labels(node: ast.AST) -> bool:
    """An expression mentioning the true classes: a name or attribute containing "label" or "truth"."""
    for inner in ast.walk(node):
        name = inner.id if isinstance(inner, ast.Name) else inner.attr if isinstance(inner, ast.Attribute) else ""
        if "label" in name.lower() or "truth" in name.lower():
            return True
    return False


def _is_label_comparison(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.Eq)
        and (_names_labels(node.left) or _names_labels(node.comparators[0]))
    )


def _own_nodes(scope: ast.AST) -> list[ast.AST]:
    """The nodes of a module or function, not those of the functions and classes defined inside it."""
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
    found, todo = [], list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        found.append(node)
        if not isinstance(node, nested):
            todo += ast.iter_child_nodes(node)
    return found


def _compared_names(scope: ast.AST) -> set[str]:
    """Names a scope binds to a comparison with the true classes (``correct = predicted == labels``)."""
    names = set()
    for node in _own_nodes(scope):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts))
            names |= {t.id for t, v in pairs if isinstance(t, ast.Name) and _is_label_comparison(v)}
    return names


def _stripped(node: ast.AST) -> ast.AST:
    """``x[mask]`` and ``np.asarray(x)`` are still x."""
    while True:
        if isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRAPPERS:
            if not node.args:
                return node
            node = node.args[0]
        else:
            return node


def accuracy_computations(source: str) -> list[int]:
    """Lines averaging predicted-versus-true comparisons: ``X.mean()``, ``np.mean(X)`` (or nanmean, average)
    where X, through subscripts and ``np.asarray``, is ``a == b`` with one side naming labels or truth,
    or a name the same function (or the module, outside its functions) bound to one. Not found: such a
    comparison handed to another function that averages it (``answers.referral`` gets ``correct``)."""
    tree = ast.parse(source)
    scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))]
    found = set()
    for scope in scopes:
        compared = _compared_names(scope)
        for node in _own_nodes(scope):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MEANS):
                continue
            operands = [node.func.value] if not node.args else [node.args[0], node.func.value]
            for operand in operands:
                operand = _stripped(operand)
                if _is_label_comparison(operand) or (isinstance(operand, ast.Name) and operand.id in compared):
                    found.add(node.lineno)
    return sorted(found)


def accuracy_calls(source: str) -> list[int]:
    """Lines calling ``accuracy(...)`` imported from edge_runtime.metrics."""
    tree = ast.parse(source)
    imported = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "brainedge.edge_runtime.metrics"
        and any(alias.name == "accuracy" for alias in node.names)
        for node in ast.walk(tree)
    )
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if imported and isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "accuracy"
    )


def test_accuracy_is_computed_in_one_place_and_bundles_are_scored_through_scoring() -> None:
    """The mean of predictions equal to the true classes is written once (``metrics.accuracy``), and only
    ``scoring`` (bundles: export's verification and evaluation, the demo, the harness) and ``metrics``
    itself (training's per-split report) call it."""
    found, called = {}, {}
    for path in project_files():
        relative, source = str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")
        if relative != ACCURACY_FORMULA and (lines := accuracy_computations(source)):
            found[relative] = lines
        if relative not in ACCURACY_CALLERS and (lines := accuracy_calls(source)):
            called[relative] = lines
    assert found == {} and called == {}
    assert len(accuracy_computations((ROOT / ACCURACY_FORMULA).read_text(encoding="utf-8"))) == 1


@pytest.mark.parametrize(
    "added",
    [
        "def f(p, labels):\n    return float((p.argmax(1) == labels).mean())\n",
        "def f(p, images):\n    correct = p.argmax(1) == images.labels\n    return correct.mean()\n",
        "def f(p, q, labels, kept):\n    a, b = p == labels, q == labels\n    return b[kept].mean()\n",
        "def f(guessed, truth):\n    return np.mean(np.asarray(guessed) == truth)\n",
    ],
)
def test_a_new_accuracy_is_caught(added: str) -> None:
    source = (ROOT / "export/demo.py").read_text(encoding="utf-8")
    assert accuracy_computations(source) == []
    assert accuracy_computations(source + "\n\n" + added) != []


def test_agreement_between_two_models_is_not_accuracy() -> None:
    assert accuracy_computations("def f(a, b):\n    return (a.argmax(1) == b.argmax(1)).mean()\n") == []


def test_calling_the_formula_outside_scoring_is_caught() -> None:
    source = (ROOT / "benchmarks/harness.py").read_text(encoding="utf-8")
    assert accuracy_calls(source) == []
    assert accuracy_calls(source + "\nfrom brainedge.edge_runtime.metrics import accuracy\nx = accuracy(p, t)\n") != []
