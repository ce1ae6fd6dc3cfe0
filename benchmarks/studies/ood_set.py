"""An out-of-distribution (OOD) image set, made without a download, for the classifier's refusal tests.

The classifier must refuse what is not a brain-MRI slice, so its tests and benchmarks need images
that are clearly not one, every image traceable to a licence. Four groups, one folder each:

- ``generated/``: noise, blank images, gradients, text, checkerboards, stripes (numpy + Pillow, seeded);
- ``natural/``: the sample images scikit-image ships inside its wheel (read as files, never fetched);
- ``photos/``: the photos beside the reference model in ../shared (developers and CI only);
- ``near/``: synthetic MRI-like slices, reported apart: they resemble the training domain.

Every image is an 8-bit RGB PNG; ``sources.json`` names each one's group, source, description and
licence. An OUT_DIR holding an earlier set is replaced whole (written beside it, then renamed into
place); a non-empty OUT_DIR that is not an OOD set is refused. See benchmarks/ood_set.md.

  python -m brainedge.benchmarks.studies.ood_set OUT_DIR [--size 256] [--per-kind N] [--shared PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from brainedge.benchmarks.studies import SHARED
from brainedge.edge_runtime.errors import BrainEdgeError, report_user_errors
from brainedge.edge_runtime.files import check_output_folder, is_image_name, shown, write_output
from brainedge.train.synthetic import CLASS_NAMES, render_slice

SOURCES_FILE = "sources.json"
MIN_SIZE = 32
"""Below this the text images cannot hold a line of the default font."""
MAX_SIZE = 4096
"""Above this the float64 drawing arrays alone need gigabytes; models read 224 px or less anyway."""
OS_LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
"""Files a file browser leaves in a folder it showed: replaced with the old set, never a reason to refuse."""
PROJECT_LICENCE = "Apache-2.0 (BrainEdge's own licence: drawn by brainedge.benchmarks.studies.ood_set)"
NEAR_COUNT = 8
NEAR_SEED = 20240601
PHOTOS = Path("reference-models") / "images"
"""Where the photos lie inside the shared folder, their licences in COPYRIGHT.txt beside them."""


class Group(NamedTuple):
    name: str
    kind: str
    """"ood" (a model must refuse it) or "near" (resembles the training domain; reported apart)."""
    about: str


GROUPS = (
    Group("generated", "ood", "noise, blanks, gradients, text, checkerboards, stripes (numpy + Pillow, seeded)"),
    Group("natural", "ood", "natural and scientific sample images inside scikit-image's wheel (skimage.data)"),
    Group("photos", "ood", "natural photos beside the reference model in ../shared/reference-models/images"),
    Group("near", "near", "synthetic MRI-like slices from brainedge.train.synthetic: near-distribution, not OOD"),
)


def ood_groups() -> tuple[Group, ...]:
    """The groups in the order they are written, each with whether it counts as OOD or near-distribution."""
    return GROUPS


class Item(NamedTuple):
    """One image to write: where it goes, what it is, and the licence it is shipped under."""

    group: str
    name: str
    source: str
    description: str
    licence: str
    draw: Callable[[], Image.Image]


class SampleImage(NamedTuple):
    """A scikit-image sample read straight from the wheel; ``evidence`` is its docstring's licence sentence."""

    function: str
    file: str
    description: str
    licence: str
    evidence: str


SKIMAGE_SAMPLES = (
    SampleImage(
        "astronaut",
        "astronaut.png",
        "astronaut Eileen Collins (NASA)",
        "public domain",
        "No known copyright restrictions, released into the public domain.",
    ),
    SampleImage(
        "camera",
        "camera.png",
        "man with a camera on a tripod (grey)",
        "CC0 (photographer Lav Varshney)",
        "No copyright restrictions. CC0 by the photographer (Lav Varshney).",
    ),
    SampleImage(
        "brick",
        "brick.png",
        "brick wall texture (grey)",
        "CC0 (CC0Textures)",
        "licensed under the Creative Commons CC0 License.",
    ),
    SampleImage(
        "grass",
        "grass.png",
        "grass texture (grey)",
        "CC0 (DeviantArt user linolafett)",
        "licensed under the Creative Commons CC0 License.",
    ),
    SampleImage(
        "gravel",
        "gravel.png",
        "gravel texture (grey)",
        "CC0 (CC0Textures)",
        "licensed under the Creative Commons CC0 License.",
    ),
    SampleImage(
        "text",
        "text.png",
        "hand-drawn text on a grey background",
        "public domain (Wikipedia)",
        "No known copyright restrictions, released into the public domain.",
    ),
    SampleImage(
        "cell",
        "cell.png",
        "quantitative phase image of a cell in saline (microscopy)",
        "CC0",
        "This image is CC0, dedicated to the public domain.",
    ),
    SampleImage(
        "coins",
        "coins.png",
        "Greek coins from Pompeii (Brooklyn Museum)",
        "no known copyright restrictions",
        "No known copyright restrictions.",
    ),
    SampleImage(
        "microaneurysms",
        "microaneurysms.png",
        "retinal fundus detail with lesions (green channel)",
        "CC0 (owner Andreas Maier)",
        "No copyright restrictions. CC0 given by owner (Andreas Maier).",
    ),
    SampleImage(
        "horse",
        "horse.png",
        "black-and-white horse silhouette (openclipart)",
        "CC0 (Andreas Preuss)",
        "No copyright restrictions. CC0 given by owner (Andreas Preuss (marauder)).",
    ),
    SampleImage(
        "clock",
        "clock_motion.png",
        "motion-blurred wall clock",
        "public domain (Stefan van der Walt)",
        "Released into the public domain by the photographer (Stefan van der Walt).",
    ),
    SampleImage(
        "immunohistochemistry",
        "ihc.png",
        "immunohistochemistry stain of colonic glands (microscopy)",
        "no known copyright restrictions",
        "No known copyright restrictions.",
    ),
    SampleImage(
        "chelsea",
        "chelsea.png",
        "Chelsea the cat",
        "CC0 (photographer Stefan van der Walt)",
        "No copyright restrictions.  CC0 by the photographer (Stefan van der Walt).",
    ),
    SampleImage(
        "coffee",
        "coffee.png",
        "coffee cup on a wooden table",
        "CC0 (photographer Rachel Michetti)",
        "No copyright restrictions.  CC0 by the photographer (Rachel Michetti).",
    ),
    SampleImage(
        "hubble_deep_field",
        "hubble_deep_field.jpg",
        "Hubble eXtreme Deep Field (astronomy)",
        "public domain (NASA)",
        "may be freely used in the public domain",
    ),
    SampleImage(
        "retina",
        "retina.jpg",
        "fundus photograph of a normal left eye",
        "CC0 1.0 (Mikael Häggström)",
        "This file is made available under the Creative Commons CC0 1.0 Universal",
    ),
    SampleImage(
        "rocket",
        "rocket.jpg",
        "SpaceX Falcon 9 launching DSCOVR",
        "public domain (released by SpaceX in 2015; its Flickr page shows CC BY-NC 2.0, scikit-image issue #5095)",
        "The image was captured by SpaceX and `released in the public domain",
    ),
)
"""The wheel's images whose docstring states a licence. Left out: moon, page, logo, colorwheel,
checkerboard, stereo_motorcycle (no licence stated), shepp_logan_phantom (no licence stated, and a
head section is near the domain), lfw_subset (25x25 crops); the rest are downloads (see ood_set.md)."""


# --- generated/ -------------------------------------------------------------------------------------------

RGB = tuple[int, int, int]
BLACK, WHITE, GREY = (0, 0, 0), (255, 255, 255), (128, 128, 128)
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
YELLOW, PALE_YELLOW, ORANGE = (255, 255, 0), (255, 255, 160), (255, 160, 0)


def _rgb(pixels: np.ndarray) -> Image.Image:
    """An 8-bit RGB image from grey (H, W) or colour (H, W, 3) values, clipped to 0..255."""
    pixels = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([pixels] * 3, axis=-1) if pixels.ndim == 2 else pixels, mode="RGB")


def _unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y in [0, 1], pixel centres: every gradient is a function of these."""
    coords = (np.arange(size, dtype=np.float64) + 0.5) / size
    return np.meshgrid(coords, coords)


def _noise(size: int, seed: int, colour: bool, gaussian: bool, sigma: float = 48.0) -> Image.Image:
    """Each noise image has its own seed, so --per-kind never changes the pixels of those it keeps."""
    rng = np.random.default_rng(seed)
    shape = (size, size, 3) if colour else (size, size)
    return _rgb(rng.normal(128, sigma, shape) if gaussian else rng.integers(0, 256, shape))


def _salt_and_pepper(size: int, seed: int, fraction: float = 0.1) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = np.full((size, size), 128.0)
    hit = rng.random((size, size)) < fraction
    pixels[hit] = rng.choice([0.0, 255.0], size=int(hit.sum()))
    return _rgb(pixels)


def _blank(size: int, colour: RGB) -> Image.Image:
    return Image.new("RGB", (size, size), colour)


def _blend(weight: np.ndarray, start: RGB, end: RGB) -> Image.Image:
    """Colour ``start`` where weight is 0 to ``end`` where it is 1."""
    weight = np.clip(weight, 0, 1)[..., None]
    return _rgb((1 - weight) * np.array(start, float) + weight * np.array(end, float))


def _linear(size: int, direction: str, start: RGB = BLACK, end: RGB = WHITE) -> Image.Image:
    x, y = _unit_grid(size)
    weight = {"horizontal": x, "vertical": y, "diagonal": (x + y) / 2}[direction]
    return _blend(weight, start, end)


def _radial(size: int, centre: RGB, edge: RGB) -> Image.Image:
    x, y = _unit_grid(size)
    return _blend(np.hypot(x - 0.5, y - 0.5) / np.sqrt(0.5), centre, edge)


def _default_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's own font (no file on disk needed); scaled where the Pillow is new enough (10.1+)."""
    try:
        return ImageFont.load_default(size=max(10, size // 14))
    except TypeError:
        return ImageFont.load_default()


TEXT = (
    "The quick brown fox jumps over the lazy dog. 0123456789",
    "Pack my box with five dozen liquor jugs!",
    "Sphinx of black quartz, judge my vow.",
    "How vexingly quick daft zebras jump.",
)


def _text(size: int, lines: Iterable[str], ink: RGB, paper: RGB) -> Image.Image:
    """Lines in Pillow's default font from the top left; a line wider than the image is cut, as in a crop."""
    image = Image.new("RGB", (size, size), paper)
    draw = ImageDraw.Draw(image)
    font = _default_font(size)
    step = max(12, size // 10)
    for row, line in enumerate(lines):
        if (row + 1) * step > size:
            break
        draw.text((size // 20, size // 20 + row * step), line, fill=ink, font=font)
    return image


def _checkerboard(size: int, cell: int, dark: RGB = BLACK, light: RGB = WHITE) -> Image.Image:
    rows, cols = np.indices((size, size)) // cell
    return _blend(((rows + cols) % 2).astype(float), dark, light)


def _stripes(size: int, width: int, direction: str, dark: RGB = BLACK, light: RGB = WHITE) -> Image.Image:
    rows, cols = np.indices((size, size))
    position = {"horizontal": rows, "vertical": cols, "diagonal": rows + cols}[direction]
    return _blend(((position // width) % 2).astype(float), dark, light)


Drawing = tuple[str, str, Callable[[], Image.Image]]


def generated_kinds(size: int) -> dict[str, list[Drawing]]:
    """(name, description, draw) for each generated image, by kind; --per-kind keeps the first N of each."""
    s = size
    cells = (4, 8, 16, 32, 64)
    return {
        "noise": [
            ("noise_uniform_grey", "uniform grey noise, 0..255", lambda: _noise(s, 1, False, False)),
            ("noise_uniform_colour", "uniform colour noise, 0..255 per channel", lambda: _noise(s, 2, True, False)),
            ("noise_gaussian_grey", "Gaussian grey noise, mean 128, sd 48", lambda: _noise(s, 3, False, True)),
            ("noise_gaussian_colour", "Gaussian colour noise, mean 128, sd 48", lambda: _noise(s, 4, True, True)),
            ("noise_gaussian_faint_grey", "Gaussian noise, mean 128, sd 8", lambda: _noise(s, 5, False, True, 8)),
            ("noise_salt_and_pepper", "10% black and white pixels on mid-grey", lambda: _salt_and_pepper(s, 6)),
        ],
        "blank": [
            ("blank_black", "all black", lambda: _blank(s, BLACK)),
            ("blank_white", "all white", lambda: _blank(s, WHITE)),
            ("blank_mid_grey", "all mid-grey (128)", lambda: _blank(s, GREY)),
            ("blank_red", "saturated red", lambda: _blank(s, RED)),
            ("blank_green", "saturated green", lambda: _blank(s, GREEN)),
            ("blank_blue", "saturated blue", lambda: _blank(s, BLUE)),
        ],
        "gradient": [
            ("gradient_linear_horizontal", "black to white, left to right", lambda: _linear(s, "horizontal")),
            ("gradient_linear_vertical", "black to white, top to bottom", lambda: _linear(s, "vertical")),
            ("gradient_linear_diagonal", "black to white, corner to corner", lambda: _linear(s, "diagonal")),
            ("gradient_linear_colour", "red to blue, left to right", lambda: _linear(s, "horizontal", RED, BLUE)),
            ("gradient_radial_bright_centre", "white centre, black corners", lambda: _radial(s, WHITE, BLACK)),
            ("gradient_radial_dark_centre", "black centre, white corners", lambda: _radial(s, BLACK, WHITE)),
            ("gradient_radial_colour", "yellow centre, blue corners", lambda: _radial(s, YELLOW, BLUE)),
        ],
        "text": [
            ("text_black_on_white", "a line of black text on white", lambda: _text(s, TEXT[:1], BLACK, WHITE)),
            ("text_white_on_black", "a line of white text on black", lambda: _text(s, TEXT[:1], WHITE, BLACK)),
            ("text_page", "a page of text lines, black on white", lambda: _text(s, TEXT * 8, BLACK, WHITE)),
            ("text_colour", "red text on pale yellow", lambda: _text(s, TEXT, RED, PALE_YELLOW)),
        ],
        "checkerboard": [
            *[
                (f"checkerboard_cell_{c}", f"black and white, {c}-px cells", _drawer(_checkerboard, s, c))
                for c in cells
            ],
            ("checkerboard_colour_cell_16", "red and green, 16-px cells", lambda: _checkerboard(s, 16, RED, GREEN)),
        ],
        "stripes": [
            ("stripes_horizontal_8", "black and white horizontal, 8 px", lambda: _stripes(s, 8, "horizontal")),
            ("stripes_vertical_8", "black and white vertical, 8 px", lambda: _stripes(s, 8, "vertical")),
            ("stripes_diagonal_16", "black and white diagonal, 16 px", lambda: _stripes(s, 16, "diagonal")),
            ("stripes_vertical_colour_32", "blue and orange, 32 px", lambda: _stripes(s, 32, "vertical", BLUE, ORANGE)),
        ],
    }


def _drawer(function: Callable[..., Image.Image], *args: object) -> Callable[[], Image.Image]:
    """``function(*args)`` for later: a lambda in a loop would see only the loop's last value."""
    return lambda: function(*args)


def generated_items(size: int, per_kind: int | None) -> list[Item]:
    return [
        Item("generated", name, "numpy + Pillow, seeded", description, PROJECT_LICENCE, draw)
        for drawings in generated_kinds(size).values()
        for name, description, draw in drawings[:per_kind]
    ]


# --- natural/ ---------------------------------------------------------------------------------------------


def skimage_data_folder() -> Path | None:
    """The installed wheel's skimage/data folder, found without importing scikit-image (nor pooch)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _open_rgb(path: Path) -> Callable[[], Image.Image]:
    """A loader that turns the file upright and flattens any transparency onto white (horse.png is RGBA)."""

    def draw() -> Image.Image:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image).convert("RGB")

    return draw


def natural_items(per_kind: int | None) -> tuple[list[Item], str | None]:
    """The samples present as files in the wheel; a missing one is never fetched, only reported."""
    folder = skimage_data_folder()
    if folder is None or not folder.is_dir():
        return [], "scikit-image is not installed (pip install 'brainedge[dev]')"
    items = []
    for sample in SKIMAGE_SAMPLES:
        path = folder / sample.file
        if not path.is_file():
            print(f"natural: {sample.function}: {sample.file} is not in this scikit-image wheel; not downloaded")
            continue
        source = f"scikit-image sample data: skimage.data.{sample.function} ({sample.file}, read from the wheel)"
        licence = f"{sample.licence}, as skimage.data.{sample.function}'s docstring states"
        items.append(Item("natural", sample.function, source, sample.description, licence, _open_rgb(path)))
    return items[:per_kind], None if items else f"{shown(folder)} holds none of the sample images"


# --- photos/ ----------------------------------------------------------------------------------------------


def photo_licences(text: str) -> dict[str, dict[str, str]]:
    """COPYRIGHT.txt as {file name: {source, licence, licence_url, origin}}.

    The file is blocks of ``Source``, ``License: ...``, ``URL: ...`` and then ``- name[, name]`` lines,
    each followed by an indented URL of where the image came from.
    """
    licences: dict[str, dict[str, str]] = {}
    block = {"source": "", "licence": "", "licence_url": ""}
    names: list[str] = []
    starts_block = True
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            starts_block = True
            continue
        key, _, value = stripped.partition(":")
        if line.startswith("- "):
            names = [name for name in re.split(r"[,\s]+", stripped[2:]) if name]
            licences.update({name: {**block, "origin": ""} for name in names})
        elif line[0].isspace() and names:
            for name in names:
                licences[name]["origin"] = stripped
        elif key.lower() in ("license", "licence"):
            block["licence"] = value.strip()
        elif key == "URL":
            block["licence_url"] = value.strip()
        elif starts_block:
            block, names = {"source": stripped.rstrip("."), "licence": "", "licence_url": ""}, []
        starts_block = False
    return licences


def photo_items(shared: Path | None, per_kind: int | None) -> tuple[list[Item], str | None]:
    """The shared photos with a licence in COPYRIGHT.txt; none at all where ../shared is absent (users)."""
    folder = None if shared is None else Path(shared) / PHOTOS
    if folder is None or not folder.is_dir():
        where = "no shared folder given" if folder is None else f"{shown(folder)} is absent"
        return [], f"{where} (the photos live in ../shared, which only developer checkouts and CI have)"
    copyright_file = folder / "COPYRIGHT.txt"
    licences = photo_licences(copyright_file.read_text("utf-8")) if copyright_file.is_file() else {}
    items = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and is_image_name(p)):
        found = licences.get(path.name)
        if not found or not found["licence"]:
            print(f"photos: {path.name}: no licence for it in {shown(copyright_file)}; left out")
            continue
        licence = f"{found['licence']} ({found['source']}; {found['licence_url']})"
        description = f"photo {path.name}, from {found['origin'] or found['source']}"
        items.append(
            Item(
                "photos", path.stem, f"../shared/{PHOTOS.as_posix()}/{path.name}", description, licence, _open_rgb(path)
            )
        )
    return items[:per_kind], None if items else f"{shown(folder)} holds no licensed image"


# --- near/ ------------------------------------------------------------------------------------------------


def near_items(size: int, per_kind: int | None) -> list[Item]:
    """MRI-like slices, two per class, from one seeded generator so the set is the same every run."""
    rng = np.random.default_rng(NEAR_SEED)
    slices = [(index, CLASS_NAMES[index % len(CLASS_NAMES)]) for index in range(NEAR_COUNT)]
    rendered = [(index, label, render_slice(label, rng, size)) for index, label in slices]  # in order: shared rng
    return [
        Item(
            "near",
            f"synthetic_{label}_{index // len(CLASS_NAMES)}",
            "brainedge.train.synthetic.render_slice",
            f"synthetic MRI-like axial slice, class {label} (seed {NEAR_SEED}); near-distribution, not OOD",
            PROJECT_LICENCE,
            lambda pixels=pixels: _rgb(pixels),
        )
        for index, label, pixels in rendered[:per_kind]
    ]


# --- writing ----------------------------------------------------------------------------------------------


def png_bytes(image: Image.Image) -> bytes:
    """An 8-bit RGB PNG of the pixels alone: no ICC profile, text or timestamp carried over from a source."""
    buffer = io.BytesIO()
    pixels = image.convert("RGB")
    Image.frombytes("RGB", pixels.size, pixels.tobytes()).save(buffer, format="PNG")
    return buffer.getvalue()


def _check_arguments(out: Path, size: int, per_kind: int | None) -> None:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise BrainEdgeError(
            f"--size {size}: must be {MIN_SIZE} to {MAX_SIZE} pixels "
            f"(the text images need {MIN_SIZE}; larger only costs memory)"
        )
    if per_kind is not None and per_kind < 1:
        raise BrainEdgeError(f"--per-kind {per_kind}: must be at least 1")
    check_output_folder(out)
    _check_replaceable(out)
    check_output_folder(_target(out).parent)  # the new set is written beside OUT_DIR, then swapped in


def check_shared(shared: Path) -> None:
    """A shared folder the user named must hold the photos: only the default one may be absent."""
    where = f"--shared {shown(shared)}"
    if not shared.exists():
        raise BrainEdgeError(f"{where}: no such folder (leave --shared out to skip the photos)")
    if not shared.is_dir():
        raise BrainEdgeError(f"{where}: not a folder")
    if not (shared / PHOTOS).is_dir():
        raise BrainEdgeError(f"{where}: has no {PHOTOS.as_posix()} folder, where the photos are")


def is_ood_set(folder: Path) -> bool:
    """Whether ``folder`` holds a set this module wrote: a sources.json with its groups and images."""
    try:
        document = json.loads((folder / SOURCES_FILE).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False
    names = {group.name for group in GROUPS}
    return (
        isinstance(document, dict)
        and isinstance(document.get("images"), list)
        and isinstance(document.get("groups"), list)
        and all(isinstance(group, dict) and group.get("name") in names for group in document["groups"])
    )


def _check_replaceable(out: Path) -> None:
    """A non-empty OUT_DIR is replaced only when it is an earlier OOD set holding nothing else."""
    if not out.is_dir():
        return
    try:
        entries = sorted(entry.name for entry in os.scandir(out))
    except OSError as error:
        raise BrainEdgeError(f"{shown(out)}: cannot read ({error.strerror or error})") from None
    if not entries:
        return
    if not is_ood_set(out):
        raise BrainEdgeError(
            f"{shown(out)}: not empty and not an OOD set (no {SOURCES_FILE} written by this module); "
            "give a new or empty folder"
        )
    ours = {group.name for group in GROUPS} | {SOURCES_FILE} | OS_LITTER
    foreign = [name for name in entries if name not in ours]
    if foreign:
        raise BrainEdgeError(
            f"{shown(out)}: holds {shown(foreign[0])}, which is not part of the OOD set it would replace; "
            "move it out or give another folder"
        )


def _target(out: Path) -> Path:
    """The folder to replace: OUT_DIR as an absolute path, a symbolic link's target (the link keeps working)."""
    target = Path(os.path.abspath(out))
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    if target == target.parent:
        raise BrainEdgeError(f"{shown(out)}: cannot replace the root folder; give a folder inside it")
    return target


def _staging_folder(target: Path) -> Path:
    """A new, hidden folder beside ``target``, with the permissions ``target`` has (or a new folder gets)."""
    staging = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(staging)
        if target.is_dir():
            os.chmod(staging, stat.S_IMODE(target.stat().st_mode))
    except OSError as error:
        raise BrainEdgeError(f"{shown(staging)}: cannot create ({error.strerror or error})") from None
    return staging


def _swap_in(staging: Path, target: Path) -> None:
    """Put the finished set at ``target``: the old one is renamed aside first and deleted only after."""
    if not os.path.lexists(target):
        _rename(staging, target, "")
        return
    retired = staging.with_name(staging.name.removesuffix(".partial") + ".old")
    _rename(target, retired, "; the previous set is intact")
    try:
        _rename(staging, target, "; the previous set is intact")
    except BaseException:
        os.rename(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _rename(source: Path, destination: Path, outcome: str) -> None:
    try:
        os.rename(source, destination)
    except OSError as error:
        raise BrainEdgeError(f"{shown(destination)}: cannot replace ({error.strerror or error}){outcome}") from None


def write_ood_set(out: Path, shared: Path | None, size: int = 256, per_kind: int | None = None) -> list[dict]:
    """Write every group under ``out`` plus ``sources.json``; return one record per image written.

    An ``out`` holding an earlier set is replaced whole: the new set is written into a hidden folder
    beside it and renamed into place, so an interrupted or failed run leaves the old set as it was;
    a non-empty ``out`` that is not an OOD set is refused. A group that cannot be made here (no
    scikit-image, no ../shared) is skipped with its reason printed and kept in sources.json. Nothing
    reaches the network: scikit-image's samples are read as files from its wheel, never through
    skimage.data (which downloads what it lacks).
    """
    out = Path(out)
    _check_arguments(out, size, per_kind)
    natural, natural_skipped = natural_items(per_kind)
    photos, photos_skipped = photo_items(shared, per_kind)
    items = generated_items(size, per_kind) + natural + photos + near_items(size, per_kind)
    skipped = {"natural": natural_skipped, "photos": photos_skipped}
    for group, reason in skipped.items():
        if reason:
            print(f"{group}: skipped: {reason}")
    target = _target(out)
    staging = _staging_folder(target)
    try:
        records = _write_set(staging, items, skipped, size, per_kind)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return records


def _write_set(
    out: Path, items: list[Item], skipped: dict[str, str | None], size: int, per_kind: int | None
) -> list[dict]:
    kinds = {group.name: group.kind for group in GROUPS}
    records = []
    for item in items:
        image = item.draw()
        file = f"{item.group}/{item.name}.png"
        write_output(out / file, png_bytes(image))
        records.append(
            {
                "file": file,
                "group": item.group,
                "kind": kinds[item.group],
                "source": item.source,
                "description": item.description,
                "licence": item.licence,
                "width": image.width,
                "height": image.height,
            }
        )
    write_output(out / SOURCES_FILE, sources_json(records, skipped, size, per_kind))
    return records


def sources_json(records: list[dict], skipped: dict[str, str | None], size: int, per_kind: int | None) -> bytes:
    groups = [
        {
            **group._asdict(),
            "images": sum(record["group"] == group.name for record in records),
            "skipped": skipped.get(group.name),
        }
        for group in GROUPS
    ]
    document = {"size": size, "per_kind": per_kind, "groups": groups, "images": records}
    return (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def summary(records: list[dict], out: Path) -> str:
    """One line per group (its count and whether it is OOD), then where sources.json is."""
    counts = {group.name: sum(record["group"] == group.name for record in records) for group in GROUPS}
    lines = [f"{g.name + '/':<11} {counts[g.name]:>3} images  ({g.kind}: {g.about})" for g in GROUPS]
    return "\n".join([*lines, f"{len(records)} images in {shown(out)}; sources in {shown(out / SOURCES_FILE)}"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m brainedge.benchmarks.studies.ood_set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", type=Path, metavar="OUT_DIR", help="folder to write the groups and sources.json into")
    parser.add_argument(
        "--size",
        type=int,
        default=256,
        help=f"side of the generated and near images, {MIN_SIZE} to {MAX_SIZE} (default 256)",
    )
    parser.add_argument("--per-kind", type=int, help="keep the first N images of each kind (default: all)")
    parser.add_argument(
        "--shared",
        type=Path,
        help="the shared folder the photos come from; it must hold them "
        f"(default {SHARED}, whose photos are skipped where it is absent)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    if args.shared is not None:
        check_shared(args.shared)
    records = write_ood_set(args.out, SHARED if args.shared is None else args.shared, args.size, args.per_kind)
    print(summary(records, args.out))
    return 0


def main(argv: list[str] | None = None) -> int:
    return report_user_errors(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
