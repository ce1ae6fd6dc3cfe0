"""The Android app compiles and its resources resolve, checked without an Android SDK.

android_demo/compile_check/android_check.py compiles every Kotlin file of the app with kotlinc
-Werror against brainedge-core, Java stubs generated from the pinned chaquopy .pyi packages (real
Android/AndroidX signatures), hand-written LiteRT stubs, and an R/BuildConfig generated from res/
and the Gradle files. The resource check resolves every R.* reference, @type/name, style parent and
manifest class. The mutation tests prove each check fails on the mistakes it exists for.

The kotlinc tests need the tools `android_check.py setup` installs (.ci/run does); without them
they skip and say what is missing.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK_DIR = ROOT / "android_demo/compile_check"
sys.path.insert(0, str(CHECK_DIR))

import android_check  # noqa: E402

APP_MAIN = ROOT / "android_demo/app/src/main"


def _needs_tools() -> None:
    missing = android_check.missing_tools()
    if missing:
        pytest.skip(
            "Android compile check needs "
            + "; ".join(missing)
            + " (python android_demo/compile_check/android_check.py setup)"
        )


def _copy_app(tmp_path: Path) -> tuple[Path, Path, Path]:
    kotlin = tmp_path / "java"
    res = tmp_path / "res"
    shutil.copytree(APP_MAIN / "java", kotlin)
    shutil.copytree(APP_MAIN / "res", res)
    manifest = tmp_path / "AndroidManifest.xml"
    shutil.copy(APP_MAIN / "AndroidManifest.xml", manifest)
    return kotlin, res, manifest


def _mutate(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"mutation target {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_every_resource_reference_resolves() -> None:
    problems = android_check.check_resources(stubs=android_check.stub_root())
    assert problems == []


def test_theme_parent_is_a_material_1_12_style() -> None:
    styles = android_check.scan_resources().styles
    assert styles["Theme.BrainEdge"] in android_check.material_styles()
    assert "Theme.Material3.DayNight.DarkActionBar" not in android_check.material_styles()


def test_resource_check_fails_on_an_unknown_style_parent(tmp_path: Path) -> None:
    kotlin, res, manifest = _copy_app(tmp_path)
    _mutate(
        res / "values/themes.xml",
        'parent="Theme.Material3.DayNight.NoActionBar"',
        'parent="Theme.Material3.DayNight.DarkActionBar"',
    )
    problems = android_check.check_resources(res, manifest, kotlin)
    assert any("Theme.Material3.DayNight.DarkActionBar" in p for p in problems), problems


def test_resource_check_fails_on_a_missing_layout_id(tmp_path: Path) -> None:
    kotlin, res, manifest = _copy_app(tmp_path)
    _mutate(res / "layout/activity_main.xml", 'android:id="@+id/timings"', "")
    problems = android_check.check_resources(res, manifest, kotlin)
    assert any("R.id.timings" in p for p in problems), problems


def test_resource_check_fails_on_a_manifest_class_or_resource_that_does_not_exist(tmp_path: Path) -> None:
    kotlin, res, manifest = _copy_app(tmp_path)
    _mutate(manifest, 'android:name=".BenchmarkActivity"', 'android:name=".BenchmarkScreen"')
    _mutate(manifest, "@xml/file_paths", "@xml/paths")
    problems = android_check.check_resources(res, manifest, kotlin)
    assert any(".BenchmarkScreen" in p for p in problems), problems
    assert any("@xml/paths" in p for p in problems), problems


def test_build_config_carries_the_litert_version() -> None:
    source = android_check.build_config_source()
    assert 'LITERT_VERSION = "1.4.1";' in source
    assert 'VERSION_NAME = "0.1.0";' in source


@pytest.mark.system
@pytest.mark.slow
def test_app_compiles_with_werror(tmp_path: Path) -> None:
    _needs_tools()
    result = android_check.compile_app(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "kotlin-out/org/brainedge/demo/MainActivity.class").is_file()


MUTATIONS = {
    # name: (file under java/org/brainedge/demo or res/, old, new, what kotlinc must say)
    "wrong LiteRT method name": (
        "LiteRtClassifier.kt",
        "interpreter.run(input, output)",
        "interpreter.runInference(input, output)",
        r"(?i)unresolved reference 'runInference'",
    ),
    "wrong LiteRT arity": (
        "LiteRtClassifier.kt",
        "Interpreter.Options().setNumThreads(threads)",
        "Interpreter.Options().setNumThreads(threads, true)",
        r"(?i)too many arguments",
    ),
    "missing layout id": (
        "res/layout/activity_main.xml",
        'android:id="@+id/timings"',
        "",
        r"(?i)unresolved reference 'timings'",
    ),
}


@pytest.mark.system
@pytest.mark.slow
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_compile_check_fails_on_a_mutation(tmp_path: Path, mutation: str) -> None:
    """Each mutation alone makes kotlinc fail, at the mutated place (~10 s of kotlinc each)."""
    _needs_tools()
    kotlin, res, _ = _copy_app(tmp_path)
    target, old, new, message = MUTATIONS[mutation]
    path = res.parent / target if target.startswith("res/") else kotlin / "org/brainedge/demo" / target
    _mutate(path, old, new)
    result = android_check.compile_app(tmp_path / "work", kotlin=kotlin, res=res)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"{mutation}: kotlinc accepted it"
    assert re.search(message, output), output[-3000:]
