"""Rewrite the tables in README.md and docs/*.md that come from code, so the pages cannot drift from it.

A page marks each generated region::

    <!-- generated:NAME -->
    ...rewritten by this script...
    <!-- /generated -->

NAME is ``variants`` (edge_runtime/variants.py), ``metadata`` (edge_runtime/metadata.schema.json) or
``cli:PROG`` (that console script's argparse parser; ``cli:brainedge-data audit`` for a subcommand,
``cli:python -m MODULE`` for a module run with -m). Run from a clone, with brainedge installed editable:

    python docs/generate.py            # rewrite the regions in place
    python docs/generate.py --check    # exit 1 naming each page whose regions differ from the code
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import tomllib

from brainedge.edge_runtime.cli_help import format_default, shows_default
from brainedge.edge_runtime.variants import DEFAULT_VARIANTS, VARIANTS

ROOT = Path(__file__).resolve().parents[1]
REGION = re.compile(r"(<!-- generated:(?P<name>[^>]+?) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.S)

VARIANT_SUMMARIES = {
    "tflite_float32": "reference TFLite",
    "tflite_float16": "float16 weights, about half the size",
    "tflite_dynamic_range": "int8 weights, float activations",
    "tflite_int8_ptq": "full-integer int8, post-training quantization calibrated on `--representative` training "
    "images; `--io-dtype` `uint8`, `int8` or `float32`",
    "tflite_int8_qat": "full-integer int8 from the quantization-aware model",
    "onnx_float32": "ONNX via tf2onnx",
    "onnx_int8": "int8 by ONNX Runtime static QDQ quantization on the same calibration images",
}
"""What each variant is for, in a reader's words (the rest of its row comes from the table in variants.py)."""

MACHINE_DEPENDENT: dict[tuple[str, str], tuple[str, tuple[tuple[str, str], ...]]] = {
    ("brainedge-data audit", "--workers"): ("2 (1 on a single core)", ()),
    ("brainedge-data split", "--workers"): ("2 (1 on a single core)", ()),
    ("brainedge-classify", "--decode-workers"): ("–", ((r", here \d+;", ";"),)),
    ("brainedge-serve", "--decoders"): ("min(2, cores)", ((r"\(default \d+: ", "(default: "),)),
    ("brainedge-serve", "--token"): ("`$BRAINEDGE_SERVE_TOKEN`", ()),
}
"""Options whose default or help is computed from the machine or the environment: (prog, option) ->
(the default cell, (pattern, replacement) edits of the help). The generator builds every parser twice, on
1 core with nothing set and on 16 cores with the variables set, and refuses an option that differs
between the two unless it is listed here; defaults computed at import time (serve's --decoders) are
listed by hand."""

REQUIRED_REGIONS = {
    "docs/export.md": ("variants", "cli:brainedge-export", "cli:python -m brainedge.export.evaluate"),
    "docs/bundle.md": ("metadata",),
    "docs/data.md": ("cli:brainedge-data audit", "cli:brainedge-data split", "cli:brainedge-data weights"),
    "docs/training.md": ("cli:brainedge-train", "cli:brainedge-demo"),
    "docs/runtime.md": ("cli:brainedge-classify",),
    "docs/serve.md": ("cli:brainedge-serve",),
    "docs/benchmarks.md": ("cli:brainedge-bench",),
}
"""Where each table must stand, so that deleting a region (markers and all) is drift too."""


def pages(root: Path) -> list[Path]:
    """The pages this script keeps: the README and every page under docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def console_scripts(root: Path = ROOT) -> dict[str, str]:
    """Console-script name -> its module, from pyproject.toml's [project.scripts]."""
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    return {name: target.split(":")[0] for name, target in scripts.items()}


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The parser of a console script (``brainedge-data audit`` gives that subcommand's) or of a
    ``python -m MODULE`` command, built by the code the command runs.

    Args:
        prog: a console-script name, optionally followed by a subcommand, or ``python -m MODULE``.

    Returns:
        The argparse parser that reads that command's arguments.
    """
    if prog.startswith("python -m "):
        module = importlib.import_module(prog.removeprefix("python -m "))
        return module.build_parser() if hasattr(module, "build_parser") else captured_parser(module.main)
    name, _, subcommand = prog.partition(" ")
    module = importlib.import_module(console_scripts()[name])
    parser = module.build_parser()
    if not subcommand:
        return parser
    return subparsers(parser)[subcommand]


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def captured_parser(main: Callable[[list[str]], object], argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser a main() builds inline: it is stopped right after parsing ``argv`` (``--help`` skipped),
    before any work. Raises SystemExit as parse_args does when ``argv`` is wrong."""
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, args: list[str] | None = None, namespace: object = None):
        if argv is not None:
            original(self, args, namespace)
        raise _Parsed(self)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", parse_then_stop):
        try:
            main(list(argv or []))
        except _Parsed as parsed:
            return parsed.parser
    raise RuntimeError(f"{main.__module__}.main() returned without parsing its arguments")


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's subcommands by name (none for a parser without them)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _options(prog: str) -> list[tuple[str, str, str]]:
    """(invocation, default, help) of each of the parser's arguments, -h left out."""
    parser = build_parser(prog)
    formatter = argparse.HelpFormatter(parser.prog)
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        invocation = formatter._format_action_invocation(action)
        if shows_default(action):
            default = f"`{format_default(action.default)}`"
        elif action.required and not (not action.option_strings and action.nargs in ("?", "*")):
            default = "required"
        else:
            default = "–"
        rows.append((invocation, default, formatter._expand_help(action) if action.help else ""))
    return rows


@contextlib.contextmanager
def _machine(cores: int, environment: dict[str, str]) -> Iterator[None]:
    with (
        mock.patch.object(os, "cpu_count", lambda: cores),
        mock.patch.object(os, "sched_getaffinity", lambda pid: set(range(cores)), create=True),
        mock.patch.dict(os.environ, environment),
    ):
        yield


def _token_variables() -> dict[str, str]:
    from brainedge.edge_runtime.serve.cli import TOKEN_VARIABLE

    return {TOKEN_VARIABLE: "a-token-from-the-environment"}


def cli_table(prog: str) -> str:
    """The options of one command as a Markdown table: option, default, what it does."""
    saved = {name: os.environ.pop(name) for name in _token_variables() if name in os.environ}
    try:
        with _machine(1, {}):
            small = _options(prog)
        with _machine(16, _token_variables()):
            large = _options(prog)
    finally:
        os.environ.update(saved)
    lines = ["| option | default | what |", "|---|---|---|"]
    for one, other in zip(small, large, strict=True):
        invocation = one[0]
        option = invocation.split(",")[-1].split()[0] if invocation.startswith("-") else invocation
        varying = MACHINE_DEPENDENT.get((prog, option))
        if varying is not None:
            one, other = (_neutral(row, *varying) for row in (one, other))
        if one != other:
            raise RuntimeError(f"{prog} {option}: its default or help varies by machine: list it in MACHINE_DEPENDENT")
        lines.append(f"| `{_cell(invocation)}` | {one[1]} | {_cell(one[2])} |")
    return "\n".join(lines) + "\n"


def _neutral(row: tuple[str, str, str], default: str, edits: tuple[tuple[str, str], ...]) -> tuple[str, str, str]:
    """A row with its machine-dependent default and help replaced by text that holds on every machine."""
    help_text = row[2]
    for pattern, replacement in edits:
        help_text, count = re.subn(pattern, replacement, help_text)
        if count != 1:
            raise RuntimeError(f"{row[0]}: MACHINE_DEPENDENT's {pattern!r} no longer matches its help")
    return row[0], default, help_text


def variants_table() -> str:
    """Every export variant in variants.py, in its order."""
    unknown = set(VARIANT_SUMMARIES) - {variant.name for variant in VARIANTS}
    if unknown:
        raise RuntimeError(f"VARIANT_SUMMARIES names variants variants.py does not have: {', '.join(sorted(unknown))}")
    lines = [
        "| variant | model file | calibrated on training images | from the QAT model | float reference "
        "| exported by default | what |",
        "|---|---|:-:|:-:|:-:|:-:|---|",
    ]
    mark = {True: "✓", False: ""}
    for variant in VARIANTS:
        if variant.name not in VARIANT_SUMMARIES:
            raise RuntimeError(f"variant {variant.name}: add its summary to VARIANT_SUMMARIES in docs/generate.py")
        lines.append(
            f"| `{variant.name}` | `{variant.model_format}`, `model{variant.suffix}` "
            f"| {mark[variant.needs_calibration]} | {mark[variant.needs_qat]} | {mark[variant.float_reference]} "
            f"| {mark[variant.name in DEFAULT_VARIANTS]} "
            f"| {VARIANT_SUMMARIES[variant.name]} |"
        )
    return "\n".join(lines) + "\n"


def _describe(schema: dict, defs: dict) -> str:
    """One cell saying what a schema node allows."""
    if "$ref" in schema:
        return _describe(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    kinds = schema.get("type", "any")
    text = " or ".join(kinds) if isinstance(kinds, list) else kinds
    if kinds == "array":
        count = (schema.get("minItems"), schema.get("maxItems"))
        items = schema.get("items", {})
        what = _describe(items, defs) if "properties" not in _resolve(items, defs) else "object"
        what = re.sub(r"^(\w+)", r"\1s", what)  # "array of 3 numbers"
        size = f"{count[0]}" if count[0] == count[1] and count[0] else f"at least {count[0]}" if count[0] else ""
        text = f"array of {size + ' ' if size else ''}{what}"
    bounds = [
        f"{symbol} {schema[key]}"
        for key, symbol in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"))
        if key in schema
    ]
    if "not" in schema and "const" in schema["not"]:
        bounds.append(f"≠ {schema['not']['const']}")
    pattern = schema.get("pattern")
    if pattern == "^[0-9a-f]{64}$":
        bounds.append("64 lowercase hex digits (SHA-256)")
    elif pattern == "^[^/\\\\]+$":
        bounds.append("a file name inside the bundle")
    elif pattern:
        bounds.append("no control characters, no leading or trailing space")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _resolve(schema: dict, defs: dict) -> dict:
    return defs[schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else schema


def _metadata_rows(schema: dict, defs: dict, prefix: str) -> Iterator[str]:
    required = set(schema.get("required", ()))
    for key, node in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        resolved = _resolve(node, defs)
        yield f"| `{path}` | {'✓' if key in required else ''} | {_cell(_describe(node, defs))} |"
        if "properties" in resolved:
            yield from _metadata_rows(resolved, defs, f"{path}.")
        items = _resolve(resolved.get("items", {}), defs)
        if "properties" in items:
            yield from _metadata_rows(items, defs, f"{path}[].")


def metadata_table() -> str:
    """Every key metadata.schema.json allows, nested keys dotted; required means within its parent."""
    schema = json.loads((ROOT / "edge_runtime" / "metadata.schema.json").read_text())
    lines = ["| key | required | value |", "|---|:-:|---|", *_metadata_rows(schema, schema.get("$defs", {}), "")]
    return "\n".join(lines) + "\n"


def render(name: str) -> str:
    """The current text of one generated region."""
    if name == "variants":
        return variants_table()
    if name == "metadata":
        return metadata_table()
    if name.startswith("cli:"):
        return cli_table(name.removeprefix("cli:"))
    raise ValueError(f"unknown generated region {name!r}")


def regenerate(text: str) -> str:
    """A page's text with every generated region rewritten from this checkout's code."""
    return REGION.sub(lambda match: match.group(1) + render(match.group("name")) + match.group(4), text)


def problems(root: Path) -> list[str]:
    """One line per page that differs from what the code generates, or lacks a table it must hold."""
    found = []
    for page in pages(root):
        text = page.read_text(encoding="utf-8")
        relative = page.relative_to(root).as_posix()
        if regenerate(text) != text:
            found.append(f"{relative}: generated tables differ from the code (run python docs/generate.py)")
        names = {match.group("name") for match in REGION.finditer(text)}
        missing = [name for name in REQUIRED_REGIONS.get(relative, ()) if name not in names]
        if missing:
            found.append(f"{relative}: lacks the generated region(s) {', '.join(missing)}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python docs/generate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 naming each drifting page")
    parser.add_argument("--root", type=Path, default=ROOT, help="the clone whose pages to read (default: this one)")
    args = parser.parse_args(argv)
    if args.check:
        found = problems(args.root)
        for line in found:
            print(line, file=sys.stderr)
        return 1 if found else 0
    for page in pages(args.root):
        text = page.read_text(encoding="utf-8")
        new = regenerate(text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            print(f"rewrote {page.relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
