"""Compile and resource checks of the Android app that need no Android SDK.

    python android_demo/compile_check/android_check.py setup      # fetch kotlinc + the .pyi stubs (CI)
    python android_demo/compile_check/android_check.py resources  # every R.*, style parent, manifest ref
    python android_demo/compile_check/android_check.py compile    # kotlinc -Werror on every app .kt file

`compile` builds, in a temporary folder: Java stubs of the Android/AndroidX classes in api.txt
generated from the pinned chaquopy .pyi packages (stubgen.py), the hand-written LiteRT and
ExifInterface stubs (handwritten/), brainedge-core's real classes, and an R and BuildConfig
generated from res/ and the Gradle files; then kotlinc compiles all of app/src/main/java in one
invocation with -Werror. What it cannot check: the Gradle scripts themselves, dexing, lint,
resource compilation by AAPT2 beyond the references below, and behaviour on a device.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import tomllib

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent
APP = DEMO / "app"
RES = APP / "src/main/res"
MANIFEST = APP / "src/main/AndroidManifest.xml"
KOTLIN_SOURCES = APP / "src/main/java"
CORE_SOURCES = DEMO / "brainedge-core/src/main/java"
CACHE = Path(os.environ.get("BRAINEDGE_ANDROID_CACHE", DEMO / ".cache"))
STYLES = HERE / "material-1.12.0-styles.txt"
ANDROID_NS = "{http://schemas.android.com/apk/res/android}"

KOTLIN_VERSION = "2.1.0"  # = kotlin in gradle/libs.versions.toml; npm's kotlin-compiler carries JetBrains' kotlinc
STUB_PACKAGES = (  # chaquopy-stubgen output of the real jars; versions as close as PyPI has to the app's
    "chaquopy-stubs-android==35.20260406",  # compileSdk 35
    "chaquopy-stubs-androidx-activity-activity==1.9.3.20260401",  # activity 1.9.3
    "chaquopy-stubs-androidx-appcompat-appcompat==1.7.1.20260401",  # appcompat 1.7.0 (1.7.1: nearest on PyPI)
    "chaquopy-stubs-androidx-core-core==1.15.0.20260401",  # core 1.15.0
    "chaquopy-stubs-androidx-fragment-fragment==1.8.9.20260401",  # fragment, appcompat's dependency
    "chaquopy-stubs-com-google-android-material-material==1.12.0.20260401",  # material 1.12.0
)
RESOURCE_DIRS = {"layout", "xml", "drawable", "mipmap", "menu", "raw", "anim", "animator", "font", "navigation"}
VALUE_TAGS = {
    "string": "string",
    "color": "color",
    "dimen": "dimen",
    "style": "style",
    "bool": "bool",
    "integer": "integer",
    "plurals": "plurals",
    "string-array": "array",
    "integer-array": "array",
    "array": "array",
    "attr": "attr",
}


class CheckError(Exception):
    pass


# -- tools -------------------------------------------------------------------------------------
def kotlinc() -> Path | None:
    for candidate in (os.environ.get("KOTLINC"), CACHE / "kotlin/node_modules/kotlin-compiler/bin/kotlinc"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def stub_root() -> Path | None:
    root = Path(os.environ.get("BRAINEDGE_ANDROID_STUBS", CACHE / "pyi"))
    return root if (root / "android-stubs/__init__.pyi").is_file() else None


def missing_tools() -> list[str]:
    """What `compile` lacks, as reasons; empty when it can run."""
    missing = []
    if kotlinc() is None:
        missing.append(
            f"kotlinc {KOTLIN_VERSION} (npm install --prefix {CACHE / 'kotlin'} kotlin-compiler@{KOTLIN_VERSION})"
        )
    if stub_root() is None:
        missing.append(
            f"the .pyi stub packages (pip install --no-deps --target {CACHE / 'pyi'} {' '.join(STUB_PACKAGES)})"
        )
    for tool in ("javac", "java"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (a JDK 17)")
    return missing


def setup() -> None:
    """Install kotlinc and the stub packages into the git-ignored cache (what .ci/run calls)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    if kotlinc() is None:
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(CACHE / "kotlin"),
                f"kotlin-compiler@{KOTLIN_VERSION}",
            ],
            check=True,
        )
    if stub_root() is None:
        pip = [sys.executable, "-m", "pip"]
        if subprocess.run([*pip, "--version"], capture_output=True).returncode != 0:
            subprocess.run([sys.executable, "-m", "venv", str(CACHE / "pip-venv")], check=True)
            pip = [str(CACHE / "pip-venv/bin/pip")]
        subprocess.run([*pip, "install", "-q", "--no-deps", "--target", str(CACHE / "pyi"), *STUB_PACKAGES], check=True)


# -- resources ---------------------------------------------------------------------------------
@dataclass
class Resources:
    entries: dict[str, set[str]]  # type -> names (as in R: dots become underscores)
    styles: dict[str, str | None]  # style name -> parent attribute


def java_name(name: str) -> str:
    return name.replace(".", "_")


def scan_resources(res: Path = RES) -> Resources:
    entries: dict[str, set[str]] = {}
    styles: dict[str, str | None] = {}
    for folder in sorted(p for p in res.iterdir() if p.is_dir()):
        kind = folder.name.split("-")[0]
        for file in sorted(folder.iterdir()):
            if kind in RESOURCE_DIRS:
                entries.setdefault(kind, set()).add(file.name.split(".")[0])
            if file.suffix != ".xml":
                continue
            root = ET.parse(file).getroot()
            if kind == "values":
                for item in root:
                    tag = item.tag if item.tag != "item" else item.get("type", "item")
                    rtype = VALUE_TAGS.get(tag, tag)
                    entries.setdefault(rtype, set()).add(java_name(item.get("name", "")))
                    if tag == "style":
                        styles[item.get("name", "")] = item.get("parent")
            for element in root.iter():
                for value in element.attrib.values():
                    if value.startswith("@+id/"):
                        entries.setdefault("id", set()).add(value[5:])
    return Resources(entries, styles)


def android_r(stubs: Path | None) -> dict[str, set[str]] | None:
    """android.R's resource names by type, from the android .pyi stubs (None without them)."""
    if stubs is None:
        return None
    sys.path.insert(0, str(HERE))
    from stubgen import parse_module

    classes, _ = parse_module(stubs / "android-stubs/__init__.pyi", "android")
    out = {}
    for name, cls in classes.items():
        if name.startswith("android.R."):
            out[name.rsplit(".", 1)[1]] = {
                m.group(1) for _, line in cls.lines if (m := re.match(r"(\w+): typing\.ClassVar", line))
            }
    return out


def material_styles() -> set[str]:
    return {line.strip() for line in STYLES.read_text().splitlines() if line.strip() and not line.startswith("#")}


def check_resources(
    res: Path = RES, manifest: Path = MANIFEST, kotlin: Path = KOTLIN_SOURCES, stubs: Path | None = None
) -> list[str]:
    """Problems AAPT2 or kotlinc would stop at: unresolved R.*, @type/name, style parents, manifest classes."""
    resources = scan_resources(res)
    framework = android_r(stubs)
    problems = []

    def resolve(reference: str, where: str) -> None:
        m = re.match(r"@(\+)?(android:)?(\w+)/([\w.]+)$", reference)
        if not m or m.group(1):
            return
        framework_ref, rtype, name = m.group(2), m.group(3), java_name(m.group(4))
        if framework_ref:
            if framework is not None and name not in framework.get(rtype, set()):
                problems.append(f"{where}: {reference} is not an Android framework resource")
        elif name not in resources.entries.get(rtype, set()):
            problems.append(f"{where}: {reference} is not defined under res/")

    for file in sorted(res.rglob("*.xml")):
        for element in ET.parse(file).getroot().iter():
            for value in element.attrib.values():
                resolve(value.strip(), str(file.relative_to(res.parent)))
            if element.text and element.text.strip().startswith("@"):
                resolve(element.text.strip(), str(file.relative_to(res.parent)))

    known_material = material_styles()
    for name, parent in resources.styles.items():
        if parent is None or parent == "":
            continue
        if parent.startswith(("@android:style/", "android:")):
            framework_name = java_name(parent.split("/", 1)[-1].removeprefix("android:"))
            if framework is not None and framework_name not in framework.get("style", set()):
                problems.append(f"style {name}: parent {parent} is not an Android framework style")
            continue
        bare = parent.removeprefix("@style/")
        if bare not in resources.styles and bare not in known_material:
            problems.append(
                f"style {name}: parent {parent} is neither an app style nor a Material Components "
                f"1.12.0 style ({STYLES.name})"
            )

    kotlin_classes = {
        m.group(1)
        for file in kotlin.rglob("*.kt")
        for m in re.finditer(r"^(?:\w+ )*class (\w+)", file.read_text(), re.M)
    }
    root = ET.parse(manifest).getroot()
    package = namespace()
    for element in root.iter():
        for value in element.attrib.values():
            resolve(value.strip(), "AndroidManifest.xml")
        if element.tag in ("activity", "service", "receiver", "provider", "application", "activity-alias"):
            cls = element.get(f"{ANDROID_NS}name")
            if cls is None:
                continue
            qualified = package + cls if cls.startswith(".") else cls
            if qualified.startswith(package + "."):
                if qualified[len(package) + 1 :] not in kotlin_classes:
                    problems.append(f"AndroidManifest.xml: <{element.tag}> {cls} is not a class in app/src/main/java")
            elif stubs is not None and not stub_class_exists(stubs, qualified):
                problems.append(f"AndroidManifest.xml: <{element.tag}> {cls} is not in the Android/AndroidX APIs")

    for file in sorted(kotlin.rglob("*.kt")):
        for m in re.finditer(r"(?<![\w.])R\.(\w+)\.(\w+)", file.read_text()):
            if m.group(2) not in resources.entries.get(m.group(1), set()):
                problems.append(f"{file.name}: R.{m.group(1)}.{m.group(2)} is not defined under res/")
    return problems


def stub_class_exists(stubs: Path, qualified: str) -> bool:
    package, _, simple = qualified.rpartition(".")
    top, *rest = package.split(".")
    path = stubs / f"{top}-stubs" / Path(*rest) / "__init__.pyi"
    return path.is_file() and re.search(rf"^class {simple}\(", path.read_text(), re.M) is not None


# -- Gradle facts ------------------------------------------------------------------------------
def namespace() -> str:
    m = re.search(r'namespace\s*=\s*"([\w.]+)"', (APP / "build.gradle.kts").read_text())
    if not m:
        raise CheckError("app/build.gradle.kts has no namespace")
    return m.group(1)


def build_config_source() -> str:
    gradle = (APP / "build.gradle.kts").read_text()
    versions = tomllib.loads((DEMO / "gradle/libs.versions.toml").read_text())["versions"]

    def value(key: str) -> str:
        m = re.search(rf'{key}\s*=\s*("?[\w.]+"?)', gradle)
        if not m:
            raise CheckError(f"app/build.gradle.kts has no {key}")
        return m.group(1)

    fields = [
        '    public static final boolean DEBUG = Boolean.parseBoolean("true");',
        f"    public static final String APPLICATION_ID = {value('applicationId')};",
        '    public static final String BUILD_TYPE = "debug";',
        f"    public static final int VERSION_CODE = {value('versionCode')};",
        f"    public static final String VERSION_NAME = {value('versionName')};",
    ]
    for m in re.finditer(r'buildConfigField\("(\w+)",\s*"(\w+)",\s*"(.*)"\)', gradle):
        literal = re.sub(r"\$\{libs\.versions\.(\w+)\.get\(\)\}", lambda v: versions[v.group(1)], m.group(3))
        fields.append(f"    public static final {m.group(1)} {m.group(2)} = {literal.replace(chr(92), '')};")
    return f"package {namespace()};\n\npublic final class BuildConfig {{\n" + "\n".join(fields) + "\n}\n"


def r_source(res: Path = RES) -> str:
    resources = scan_resources(res)
    lines = [f"package {namespace()};", "", "public final class R {"]
    counter = 0x7F000000
    for rtype in sorted(resources.entries):
        lines.append(f"    public static final class {rtype} {{")
        for name in sorted(resources.entries[rtype]):
            counter += 1
            lines.append(f"        public static final int {name} = {counter:#x};")
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- compile -----------------------------------------------------------------------------------
def compile_app(work: Path, kotlin: Path = KOTLIN_SOURCES, res: Path = RES) -> subprocess.CompletedProcess:
    """javac the stubs, brainedge-core, R and BuildConfig; kotlinc -Werror every .kt under kotlin."""
    missing = missing_tools()
    if missing:
        raise CheckError("missing: " + "; ".join(missing))
    sys.path.insert(0, str(HERE))
    import stubgen

    sources, classes = work / "java", work / "classes"
    stubgen.generate([stub_root()], HERE, sources)
    (sources / "R.java").write_text(r_source(res))
    (sources / "BuildConfig.java").write_text(build_config_source())
    java_files = [
        str(p)
        for p in (*sources.rglob("*.java"), *(HERE / "handwritten").rglob("*.java"), *CORE_SOURCES.rglob("*.java"))
    ]
    javac = subprocess.run(
        ["javac", "-nowarn", "--release", "17", "-d", str(classes), *java_files], capture_output=True, text=True
    )
    if javac.returncode != 0:
        raise CheckError(f"the generated stubs do not compile:\n{javac.stderr[-4000:]}")
    kotlin_files = sorted(str(p) for p in kotlin.rglob("*.kt"))
    env = {**os.environ, "JAVA_OPTS": os.environ.get("JAVA_OPTS", "-Xmx1g -XX:TieredStopAtLevel=1")}
    return subprocess.run(
        [
            str(kotlinc()),
            "-Werror",
            "-jvm-target",
            "17",
            "-language-version",
            "2.1",
            "-no-reflect",
            "-cp",
            str(classes),
            "-d",
            str(work / "kotlin-out"),
            *kotlin_files,
        ],
        capture_output=True,
        text=True,
        env=env,
    )


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "compile"
    try:
        return run(command)
    except CheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run(command: str) -> int:
    if command == "setup":
        setup()
        return 0
    if command == "resources":
        problems = check_resources(stubs=stub_root())
        print("\n".join(problems) or "resources: every reference resolves")
        return 1 if problems else 0
    if command == "compile":
        with tempfile.TemporaryDirectory() as work:
            result = compile_app(Path(work))
        print(result.stdout + result.stderr)
        print("kotlinc: OK" if result.returncode == 0 else "kotlinc: FAILED")
        return result.returncode
    print(f"error: unknown command {command!r}; choose setup, resources or compile", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
