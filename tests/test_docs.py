"""The pages say what the code does: generated tables match it, every shell block runs or at least parses
with the CLI it calls, links resolve, and every CLI's --help shows its defaults."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import re
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainedge.edge_runtime.cli_help import DefaultsHelpFormatter, format_default, shows_default

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RESULTS = ROOT / "benchmarks" / "results"
TEST_SUITE_LINE = 'python3 -m venv .venv && .venv/bin/pip install -q -e ".[train,dev]" && .venv/bin/python -m pytest'
"""CI (.ci/run) runs this line, and a hook looks for it in the README: it must stay word for word."""


def _load_generator():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generator()
SCRIPTS = generate.console_scripts()

NOT_RUN = {
    "python3 -m venv": "makes a virtual environment (CI's .ci/run does, from a clean clone)",
    ".venv/bin/pip install": "installs packages (CI does; tests/test_install.py installs the wheel into a clean venv)",
    "pip install": "installs packages on a device (tests/test_install.py installs the wheel with [edge])",
    "pip wheel": "builds the wheel (tests/test_install.py builds it)",
    ".venv/bin/python -m pytest": "runs this test suite itself",
    "scp ": "copies to a Raspberry Pi on the network",
    "sudo ": "changes the system: apt packages, systemd units, the CPU governor",
    "source ": "activates a venv in an interactive shell",
    "journalctl ": "reads a Pi's systemd journal",
    "edge_runtime/pi/install_kiosk.sh": "installs and starts a systemd unit (tests/test_camera.py runs --print)",
    "cd android_demo": "the Android build (tests/test_android_build.py compile-checks the app)",
    "./gradlew ": "needs the Android SDK and a phone",
    "curl ": "needs a running server (tests/test_serve*.py send the same request)",
}
"""Commands in the pages that this test neither runs nor parses, by prefix, with the reason."""

RUN_FOR_REAL = ("brainedge-data",)
"""Cheap commands run for real, in page order, in a folder holding tiny generated images at the paths the
pages use (data/Training, data/Testing); every other command of ours is parsed with the same arguments."""


# ---------------------------------------------------------------- reading pages


def shell_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, body) of each shell block: ```bash, ```sh, ```console, or ``` holding a command."""
    blocks = []
    for match in re.finditer(r"^```([\w-]*)[ \t]*\n(.*?)^```", text, re.S | re.M):
        language, body = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        if language in ("bash", "sh", "shell", "console") or (not language and _looks_like_commands(body)):
            blocks.append((line, body))
    return blocks


def _looks_like_commands(body: str) -> bool:
    starts = (*SCRIPTS, "python", "pip", "sudo", ".venv/", "$ ", "cd ", "curl ")
    return any(line.lstrip().startswith(starts) for line in body.splitlines())


def commands(body: str) -> list[list[str]]:
    """Each simple command of a block as argv: continuations joined, comments, prompts, redirections and
    leading variable assignments dropped, ``&&``, ``||``, ``;`` and ``|`` splitting commands."""
    text = re.sub(r"\\\n", " ", body)
    found = []
    for line in text.splitlines():
        line = re.sub(r"^\s*\$ ", "", line)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        argv: list[str] = []
        tokens = iter(lexer)
        for token in tokens:
            if token in ("&&", "||", ";", "|", "&"):
                found.append(argv)
                argv = []
            elif token in (">", ">>", "<", "2>", "&>"):
                next(tokens, None)
            elif not argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", token):
                continue
            else:
                argv.append(token)
        found.append(argv)
    return [argv for argv in found if argv]


# ---------------------------------------------------------------- checking a command


def _not_run_reason(argv: list[str]) -> str | None:
    line = shlex.join(argv)
    return next((reason for prefix, reason in NOT_RUN.items() if line.startswith(prefix.rstrip())), None)


def _parse(main: object, build: object, argv: list[str]) -> str | None:
    """Parse argv as the command does: None when it parses (or prints --help), else argparse's message."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as errors:
        try:
            if build is not None:
                build().parse_args(argv)
            else:
                generate.captured_parser(main, argv)
        except SystemExit as stop:
            if stop.code not in (0, None):
                return errors.getvalue().strip() or f"exit {stop.code}"
    return None


def check_command(argv: list[str], sandbox: Path | None) -> str | None:
    """None when the command is fine, else why not. Ours are parsed (brainedge-data run for real when a
    sandbox is given); others must be listed in NOT_RUN."""
    name = Path(argv[0]).name
    shown = shlex.join(argv)
    if name in SCRIPTS:
        module = importlib.import_module(SCRIPTS[name])
        if sandbox is not None and name in RUN_FOR_REAL and not {"--help", "--version"} & set(argv):
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as errors:
                code = module.main(argv[1:])
            return None if code == 0 else f"{shown}: exit {code}: {errors.getvalue().strip()[-300:]}"
        problem = _parse(None, module.build_parser, argv[1:])
    elif name.startswith("python") and argv[1:2] == ["-m"] and argv[2].startswith("brainedge."):
        module = importlib.import_module(argv[2])
        problem = _parse(module.main, getattr(module, "build_parser", None), argv[3:])
    elif name.startswith("python") and len(argv) > 1 and argv[1].endswith(".py") and (ROOT / argv[1]).is_file():
        spec = importlib.util.spec_from_file_location(Path(argv[1]).stem, ROOT / argv[1])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        problem = _parse(module.main, getattr(module, "build_parser", None), argv[2:])
    elif _not_run_reason(argv) is not None:
        return None
    else:
        return f"{shown}: neither run, parsed, nor listed in NOT_RUN with a reason"
    return None if problem is None else f"{shown}: does not parse ({problem})"


def check_page(text: str, sandbox: Path | None) -> list[str]:
    """Every problem with every shell block of one page."""
    problems = []
    for line, body in shell_blocks(text):
        for argv in commands(body):
            problem = check_command(argv, sandbox)
            if problem:
                problems.append(f"line {line}: {problem}")
    return problems


def make_sandbox(folder: Path) -> Path:
    """Tiny images at the paths the pages use: a Kaggle-style data/Training + data/Testing, two classes."""
    rng = np.random.default_rng(0)
    for part, count in (("Training", 12), ("Testing", 4)):
        for label in ("glioma", "notumor"):
            target = folder / "data" / part / label
            target.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (32, 32), dtype=np.uint8)
                Image.fromarray(pixels).save(target / f"{label}-{index}.png")
    return folder


# ---------------------------------------------------------------- the pages' tests


def test_readme_is_short_and_keeps_its_promises():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.encode()) <= 12 * 1024
    assert TEST_SUITE_LINE in text
    assert 'python3 -m venv .venv && .venv/bin/pip install -q -e ".[train,dev]" && .venv/bin/brainedge-demo' in text
    assert "Research software, not a medical device." in text
    assert TEST_SUITE_LINE in (ROOT / ".ci" / "run").read_text()


def test_one_page_per_stage():
    names = {page.name for page in PAGES}
    for page in (
        "data", "training", "export", "bundle", "runtime", "serve", "benchmarks", "raspberry-pi", "android",
        "reliability", "glossary",
    ):  # fmt: skip
        assert f"{page}.md" in names


def test_generated_tables_match_the_code():
    assert generate.problems(ROOT) == []


def test_the_drift_check_can_fail(tmp_path):
    for page in PAGES:
        relative = page.relative_to(ROOT)
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(page, tmp_path / relative)
    export = tmp_path / "docs" / "export.md"
    text = export.read_text(encoding="utf-8")
    export.write_text(text.replace("| `tflite_float16` |", "| `tflite_float17` |", 1), encoding="utf-8")
    assert any(line.startswith("docs/export.md: generated tables differ") for line in generate.problems(tmp_path))
    assert generate.main(["--check", "--root", str(tmp_path)]) == 1
    generate.main(["--root", str(tmp_path)])  # rewriting mends it
    assert generate.problems(tmp_path) == []
    data = tmp_path / "docs" / "data.md"
    data.write_text(re.sub(r"<!-- generated:cli:brainedge-data weights -->.*?<!-- /generated -->\n", "",
                           data.read_text(encoding="utf-8"), flags=re.S), encoding="utf-8")  # fmt: skip
    assert generate.problems(tmp_path) == ["docs/data.md: lacks the generated region(s) cli:brainedge-data weights"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_shell_block_runs_or_parses(page, tmp_path, monkeypatch):
    monkeypatch.chdir(make_sandbox(tmp_path))
    assert check_page(page.read_text(encoding="utf-8"), tmp_path) == []


def test_the_shell_check_can_fail(tmp_path, monkeypatch):
    """A misspelt option, an unknown command, and a real run that fails are each caught."""
    text = (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
    assert "--out data/manifest.csv --seed 0" in text
    misspelt = text.replace("--out data/manifest.csv --seed 0", "--out data/manifest.csv --sed 0")
    problems = check_page(misspelt, None)
    assert len(problems) == 1 and "--sed" in problems[0] and "does not parse" in problems[0]
    module = "```bash\npython -m brainedge.export.evaluate runs/mri runs/mri/export --split tests\n```\n"
    assert "does not parse" in check_page(module, None)[0]
    assert "NOT_RUN" in check_page("```bash\nrm -rf runs/\n```\n", None)[0]
    monkeypatch.chdir(make_sandbox(tmp_path))
    assert "exit 2" in check_page("```bash\nbrainedge-data weights no-such.csv\n```\n", tmp_path)[0]


def test_every_not_run_entry_is_used():
    lines = [
        shlex.join(argv) for page in PAGES for _, body in shell_blocks(page.read_text()) for argv in commands(body)
    ]
    for prefix in NOT_RUN:
        assert any(line.startswith(prefix.rstrip()) for line in lines), f"NOT_RUN: {prefix!r} is in no page"


def test_commands_are_split_as_a_shell_would():
    body = "TF_CONFIG='{\"a\": 1}' \\\n    brainedge-train --out runs/x   # note\nA && b --c > out.txt | d\n"
    assert commands(body) == [["brainedge-train", "--out", "runs/x"], ["A"], ["b", "--c"], ["d"]]


# ---------------------------------------------------------------- links and records

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def broken_links(page: Path, text: str) -> list[str]:
    """Relative links of a page whose file or heading does not exist."""
    broken = []
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists() or (anchor and anchor not in _anchors(resolved)):
            broken.append(target)
    return broken


@pytest.mark.parametrize("page", [*PAGES, RESULTS / "README.md"], ids=lambda page: page.name)
def test_links_resolve(page):
    assert broken_links(page, page.read_text(encoding="utf-8")) == []


def test_the_link_check_can_fail():
    page = ROOT / "docs" / "export.md"
    assert broken_links(page, "[a](training.md) [b](trainin.md) [c](export.md#options) [d](export.md#optons)") == [
        "trainin.md",
        "export.md#optons",
    ]


def test_every_result_record_is_linked():
    index = (RESULTS / "README.md").read_text(encoding="utf-8")
    linked = {(RESULTS / (match.group(1) or "")).resolve() for match in LINK.finditer(index)}
    records = {path.resolve() for path in RESULTS.rglob("*.md") if path.name != "README.md"}
    assert records and records <= linked, sorted(str(path) for path in records - linked)


# ---------------------------------------------------------------- --help shows defaults


def _all_parsers() -> dict[str, argparse.ArgumentParser]:
    parsers = {}
    for name, module in SCRIPTS.items():
        parser = importlib.import_module(module).build_parser()
        parsers[name] = parser
        for subcommand, subparser in generate.subparsers(parser).items():
            parsers[f"{name} {subcommand}"] = subparser
    return parsers


def undocumented_defaults(parser: argparse.ArgumentParser) -> list[str]:
    """Options with a default whose line in --help does not say it."""
    missing = []
    for action in parser._actions:
        if not shows_default(action):
            continue
        formatter = parser._get_formatter()
        line = " ".join(formatter._format_action(action).split())
        if "default" not in line.lower():
            missing.append(action.option_strings[-1])
    return missing


@pytest.mark.parametrize("name", sorted(_all_parsers()))
def test_help_shows_every_default(name, monkeypatch):
    monkeypatch.delenv("BRAINEDGE_SERVE_TOKEN", raising=False)
    parser = _all_parsers()[name]
    assert parser.formatter_class is DefaultsHelpFormatter
    assert undocumented_defaults(parser) == []


WORDED_DEFAULTS = {("brainedge-serve", "--host"): "127.0.0.1 is said in words: this machine only"}
"""Options whose help names their default in words rather than by its value."""


def _spellings(value: object) -> set[str]:
    """How a help text may write a default: as printed, without a trailing .0, with thousands separators,
    or once for a list whose items are all equal (a per-channel mean)."""
    if isinstance(value, (list, tuple)) and value and len(set(value)) == 1:
        return _spellings(value[0]) | {format_default(value)}
    text = format_default(value)
    spellings = {text, text.removesuffix(".0")}
    if isinstance(value, int) and not isinstance(value, bool):
        spellings.add(f"{value:,}")
    return spellings


def wrong_written_defaults(name: str, parser: argparse.ArgumentParser) -> list[str]:
    """Options whose help says a default other than the one the parser uses."""
    wrong = []
    for action in parser._actions:
        if not shows_default(action) or "default" not in (action.help or "").lower():
            continue
        if (name, action.option_strings[-1]) in WORDED_DEFAULTS:
            continue
        text = action.help % {**vars(action), "prog": parser.prog}
        if not any(spelling in text for spelling in _spellings(action.default)):
            wrong.append(action.option_strings[-1])
    return wrong


@pytest.mark.parametrize("name", sorted(_all_parsers()))
def test_a_default_written_in_the_help_is_the_real_one(name, monkeypatch):
    monkeypatch.delenv("BRAINEDGE_SERVE_TOKEN", raising=False)
    assert wrong_written_defaults(name, _all_parsers()[name]) == []


def test_the_written_default_check_can_fail():
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--top-k", type=int, default=4, help="ranked classes (default 3)")
    parser.add_argument("--mean", type=float, nargs=3, default=(127.5,) * 3, help="mean (default 127.5)")
    assert wrong_written_defaults("x", parser) == ["--top-k"]


def test_the_help_check_can_fail():
    """Under argparse's own formatter the check names the options; ours shows them, help or not."""

    def parser_with(formatter: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="x", formatter_class=formatter)
        parser.add_argument("--size", type=int, default=224)
        parser.add_argument("--rate", type=float, default=0.5, help="a %% rate")
        parser.add_argument("--quiet", action="store_true", help="no output")
        return parser

    assert undocumented_defaults(parser_with(argparse.RawDescriptionHelpFormatter)) == ["--size", "--rate"]
    shown = parser_with(DefaultsHelpFormatter)
    assert undocumented_defaults(shown) == []
    text = " ".join(shown.format_help().split())
    assert "--size SIZE (default: 224)" in text and "a % rate (default: 0.5)" in text and "False" not in text


def test_a_default_with_a_percent_sign_is_printed_as_is():
    parser = argparse.ArgumentParser(prog="x", formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--name", default="50%", help="a name")
    assert "a name (default: 50%)" in parser.format_help()


def test_python_m_commands_are_importable_modules():
    """Every ``python -m brainedge.X`` the pages and the results index name is a module of this checkout (a
    renamed one fails here, even where it stands in prose rather than in a shell block)."""
    module = re.compile(r"python -m (brainedge(?:\.[a-z_][a-z0-9_]*)+)\b(?!\.)")
    names = set()
    for page in [*PAGES, RESULTS / "README.md"]:
        names |= set(module.findall(page.read_text(encoding="utf-8")))
    assert names
    for name in sorted(names):
        assert importlib.util.find_spec(name) is not None, name


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))


PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
STAND_INS = {
    "runs/mri/export/tflite_int8_ptq": "{bundles}/int8_head",
    '"scan.jpg"': '"{bundles}/images/red/0.png"',
    '"scans/"': '"{bundles}/images"',
}
"""The paths the pages' Python blocks name, and the committed tiny bundle's files that stand in for them."""


def python_blocks(text: str) -> list[str]:
    return PYTHON_BLOCK.findall(text)


def run_python_block(code: str, bundles: Path) -> None:
    for written, stand_in in STAND_INS.items():
        code = code.replace(written, stand_in.format(bundles=bundles))
    exec(compile(code, "<docs>", "exec"), {})


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p.read_text())], ids=lambda p: p.name)
def test_every_python_block_runs(page, bundles, capsys):
    """The Python API as the pages show it, run on the committed tiny int8 bundle."""
    for code in python_blocks(page.read_text()):
        run_python_block(code, bundles)
    assert capsys.readouterr().out.strip(), "the blocks printed nothing: did they run?"


def test_the_python_block_check_can_fail(bundles):
    with pytest.raises(TypeError):
        run_python_block(
            'from brainedge.edge_runtime import Classifier\nClassifier.from_bundle("runs/mri/export/tflite_int8_ptq")'
            '.classify("scan.jpg", top_k=2)\n',
            bundles,
        )
