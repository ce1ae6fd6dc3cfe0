"""Are the bundles' class-activation maps right? Issue 18's checks, measured on a run and its export.

On the held-out test split of the run's manifest (leaked images left out):

1. Equivalence. Grad-CAM from TensorFlow (``tf.GradientTape`` on the last feature map, the input
   of ``head_pool``, w.r.t. the class logit before the softmax; channel weights = the gradient's
   spatial mean; positive part) of the run's Keras model, against the runtime's map
   (``Head.class_map`` on the float32 bundle's feature map), for the float bundle's top class:
   Pearson r per image at feature-map resolution, target >= 0.99 for every image. The int8
   bundle's map of the same class against the float bundle's: target mean r >= 0.95 (min reported).
2. Randomization (Adebayo et al. 2018, cascading): the head re-initialized, then also the last
   1, 2, ... convolutions of the network (and every layer after them), each with its own
   initializers; Grad-CAM of the randomized Keras model against the trained one's, for the
   trained model's top class: target mean Spearman rank correlation <= 0.5 at every stage.
3. Pointing game (Zhang et al. 2016), when the data is brainedge.train.synthetic's (each test
   image is re-drawn from the generator and must match the file): the true class's map,
   upsampled to the image (``explain.upsample``), hits when its maximum lies within the tolerance
   of the lesion (default 15 px at 224 px, i.e. 15/224 of the image side: the mask dilated by a
   disk of that radius). Target: hit rate >= 80%, beside a uniformly random point's (the dilated
   lesion's share of the image).
4. Cost: ``Head.class_map`` + ``explain.upsample`` to the image's size per image, beside
   ``Engine.classify`` of the decoded image (preprocessing, model, head). Bundle size: nothing
   extra; the map is drawn from the feature map and the head file every schema-2 bundle carries.

Writes OUT.json, OUT.md and OUT.png (a gallery: int8 overlays, 3 test images per class,
misclassified ones first, framed in red).

usage: python -m brainedge.benchmarks.studies.class_maps RUN_DIR EXPORT_DIR --out benchmarks/results/class_maps_NAME
           [--float tflite_float32] [--int8 tflite_int8_ptq] [--images 200] [--synthetic-seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from brainedge.benchmarks.dataset import manifest_test_set
from brainedge.benchmarks.device import device_record
from brainedge.benchmarks.studies import study_command
from brainedge.edge_runtime.engine import Engine
from brainedge.edge_runtime.errors import BrainEdgeError, report_user_errors
from brainedge.edge_runtime.explain import SHORT_SIDE_AT_LEAST, overlay, png_bytes, upsample
from brainedge.edge_runtime.files import check_output_file, is_image_name, shown, write_output
from brainedge.edge_runtime.manifest import read_manifest
from brainedge.edge_runtime.metadata import InputSpec, spec_from_dict
from brainedge.edge_runtime.preprocess import decode_pixels, to_input_tensor
from brainedge.train.run_dir import RunDirectory

MIN_FLOAT_PEARSON = 0.99
MIN_INT8_PEARSON = 0.95
MAX_RANDOMIZED_SPEARMAN = 0.5
MIN_POINTING_HIT_RATE = 0.80
TOLERANCE_AT_224 = 15
"""The pointing game's tolerance in Zhang et al. (2016): 15 px on 224 px images."""
MAX_REPLAY_DIFFERENCE = 4.0
"""Mean absolute difference (grey levels) between a file and the slice re-drawn for it: JPEG at
quality 92 stays near 1; another image is tens of levels away."""
TILE = SHORT_SIDE_AT_LEAST
"""A gallery tile's width: the smallest size ``overlay`` draws at, so it draws each image whole, unscaled."""
BATCH = 32


# --- measures, no TensorFlow ---------------------------------------------------------------------


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two maps; two constant maps correlate 1 when equal up to scale (two empty maps), else 0."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    if norm == 0:
        return 1.0 if not a.any() and not b.any() else 0.0
    return float((a * b).sum() / norm)


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties sharing their average rank (what Spearman's rho needs)."""
    values = np.asarray(values).ravel()
    order = np.argsort(values, kind="mergesort")
    _, starts, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranked = np.empty(len(values), np.float64)
    ranked[order] = np.repeat(starts + (counts - 1) / 2, counts)
    return ranked


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson r of the ranks (an all-zero map against a map: 0)."""
    return pearson(ranks(a), ranks(b))


def dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within ``radius`` (Euclidean, in pixels) of the mask."""
    reach = int(np.floor(radius))
    padded = np.pad(mask, reach)
    height, width = mask.shape
    grown = np.zeros_like(mask)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if dy * dy + dx * dx <= radius * radius:
                grown |= padded[reach + dy : reach + dy + height, reach + dx : reach + dx + width]
    return grown


def pointing_hit(class_map: np.ndarray, mask: np.ndarray, tolerance: float) -> tuple[bool, bool, tuple[int, int]]:
    """Whether the upsampled map's maximum (its first, in row-major order) lies in the lesion, and
    within ``tolerance`` pixels of it; and where that maximum is (row, column)."""
    heat = upsample(class_map, *mask.shape)
    row, column = np.unravel_index(int(np.argmax(heat)), heat.shape)
    rows, columns = np.nonzero(mask)
    distance = np.sqrt((rows - row) ** 2 + (columns - column) ** 2).min()
    return bool(mask[row, column]), bool(distance <= tolerance), (int(row), int(column))


def default_tolerance(height: int, width: int) -> float:
    return TOLERANCE_AT_224 / 224 * min(height, width)


def summary(values: list[float]) -> dict[str, Any]:
    array = np.asarray(values, np.float64)
    return {
        "count": len(values),
        "mean": float(array.mean()),
        "min": float(array.min()),
        "p05": float(np.percentile(array, 5)),
        "max": float(array.max()),
    }


# --- the data ------------------------------------------------------------------------------------


@dataclass
class HeldOut:
    paths: list[Path]
    labels: np.ndarray
    pixels: list[np.ndarray]
    """Decoded as the runtime decodes them (a grayscale slice stays HxWx1)."""
    class_names: list[str]
    root: Path


def load_images(run: Path, limit: int | None) -> tuple[dict[str, Any], HeldOut]:
    config = RunDirectory(run).read_config()
    manifest_path = Path(config["manifest"])
    if not manifest_path.is_file():
        raise BrainEdgeError(f"{run}: its manifest {shown(manifest_path)} is not there")
    test = manifest_test_set(manifest_path, "test").subset(limit)
    class_names = list(config["class_names"])
    labels = np.array(test.labels_for(class_names))
    pixels = [decode_pixels(path) for path in test.paths]
    return config, HeldOut(test.paths, labels, pixels, class_names, read_manifest(manifest_path).root)


def synthetic_masks(images: HeldOut, seed: int) -> tuple[dict[Path, np.ndarray] | None, str]:
    """The lesion mask of every test image when the data is ``generate_dataset``'s with this seed;
    otherwise None and why not."""
    from brainedge.train.synthetic import CLASS_NAMES, generate_slices

    if not set(images.class_names) <= set(CLASS_NAMES):
        return None, f"classes {images.class_names} are not the synthetic generator's"
    wanted: dict[Path, Path] = {}
    for path in images.paths:
        try:
            relative = Path(path).relative_to(images.root)
        except ValueError:
            return None, f"{shown(path)} is outside the dataset root"
        label = relative.parts[0]
        if len(relative.parts) != 2 or not relative.name.startswith(f"{label}_") or relative.suffix != ".jpg":
            return None, f"{shown(relative)} is not named as brainedge.train.synthetic names its files"
        wanted[relative] = Path(path)
    folders = [images.root / name for name in images.class_names]
    if not all(folder.is_dir() for folder in folders):
        return None, f"{shown(images.root)} does not hold one folder per class"
    counts = {len([p for p in folder.iterdir() if is_image_name(p)]) for folder in folders}
    if len(counts) != 1:
        return None, f"{shown(images.root)}: classes hold different numbers of images; not one generate_dataset call"
    sizes = {pixels.shape[:2] for pixels in images.pixels}
    if len(sizes) != 1 or len({*next(iter(sizes))}) != 1:
        return None, "the test images are not all square and of one size"
    size = next(iter(sizes))[0]
    by_path = {Path(p): pixels for p, pixels in zip(images.paths, images.pixels)}
    masks: dict[Path, np.ndarray] = {}
    for item in generate_slices(counts.pop(), size, seed, tuple(images.class_names)):
        path = wanted.get(item.relative_path)
        if path is None:
            continue
        stored = by_path[path].astype(np.float64).mean(axis=2)
        if np.abs(stored - item.pixels).mean() > MAX_REPLAY_DIFFERENCE:
            return None, (
                f"{shown(item.relative_path)} is not the slice brainedge.train.synthetic draws with seed {seed} "
                "(pass --synthetic-seed if the data was generated with another)"
            )
        masks[path] = item.mask
        if len(masks) == len(wanted):
            break
    if len(masks) != len(wanted):
        return None, "some test images have no counterpart in the generator's sequence"
    return masks, f"brainedge.train.synthetic, seed {seed}, {size} px; every test image re-drawn and matched"


# --- TensorFlow: Grad-CAM and randomized models ----------------------------------------------------


def grad_cam(model: Any, inputs: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) of ``classes`` (one per image) on the feature map that feeds
    ``head_pool``: weights = spatial mean of d logit / d feature map, map = ReLU(sum_k w_k A_k).

    The logit is the last dense layer's pre-activation; the function checks that its softmax is the
    model's own output, so the gradient is taken of the model's logits and nothing else.
    """
    from brainedge.export.head import LOGITS_LAYER, POOL_LAYER
    from brainedge.train.tf_setup import keras, tf

    names = [layer.name for layer in model.layers]
    if POOL_LAYER not in names or LOGITS_LAYER not in names:
        raise BrainEdgeError(f"the run's model has no {POOL_LAYER} and {LOGITS_LAYER} layers")
    features = keras.Model(model.input, model.get_layer(POOL_LAYER).input)
    after = model.layers[names.index(POOL_LAYER) : names.index(LOGITS_LAYER)]
    dense = model.get_layer(LOGITS_LAYER)
    maps = []
    for start in range(0, len(inputs), BATCH):
        batch = tf.constant(inputs[start : start + BATCH])
        chosen = tf.constant(classes[start : start + BATCH], tf.int32)
        with tf.GradientTape() as tape:
            feature_map = features(batch, training=False)
            tape.watch(feature_map)
            x = feature_map
            for layer in after:
                x = layer(x, training=False)
            logits = tf.matmul(tf.cast(x, tf.float32), dense.kernel) + dense.bias
            picked = tf.gather(logits, chosen, axis=1, batch_dims=1)
        gradients = tape.gradient(picked, feature_map)
        expected = model(batch, training=False).numpy()
        if np.abs(tf.nn.softmax(logits).numpy() - expected).max() > 1e-4:
            raise BrainEdgeError(f"{LOGITS_LAYER} is not a dense layer whose softmax is the model's output")
        weights = tf.reduce_mean(gradients, axis=(1, 2))
        maps.append(tf.nn.relu(tf.einsum("nhwc,nc->nhw", tf.cast(feature_map, tf.float32), weights)).numpy())
    return np.concatenate(maps).astype(np.float64)


def cascade_stages(model: Any, depth: int) -> list[tuple[str, list[str]]]:
    """(stage name, layers to re-initialize): the head, then also the last 1..depth convolutions and
    every weighted layer after each (batch norm included), up to the head."""
    from brainedge.export.head import POOL_LAYER
    from brainedge.train.model import is_head
    from brainedge.train.tf_setup import keras

    names = [layer.name for layer in model.layers]
    pool = names.index(POOL_LAYER)
    head = [layer.name for layer in model.layers[pool:] if is_head(layer) and layer.weights]
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    convolutions = [i for i, layer in enumerate(model.layers[:pool]) if isinstance(layer, kinds)]
    stages = [("head", head)]
    for count in range(1, min(depth, len(convolutions)) + 1):
        first = convolutions[-count]
        body = [layer.name for layer in model.layers[first:pool] if layer.weights]
        top = model.layers[first].name
        stages.append((f"head + last {count} conv ({top} on)", body + head))
    return stages


def randomized(model: Any, layer_names: list[str], seed: int) -> Any:
    """A copy of the model with these layers' weights drawn again from their own initializers, each
    initializer re-made with its own seed (an unseeded Keras initializer called twice repeats itself)."""
    from brainedge.train.tf_setup import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    attribute = {"depthwise_kernel": "depthwise_initializer", "pointwise_kernel": "pointwise_initializer"}
    draw = seed * 100_003
    for name in layer_names:
        layer = copy.get_layer(name)
        for variable in layer.weights:
            short = variable.name.rsplit("/", 1)[-1].split(":")[0]
            initializer = getattr(layer, attribute.get(short, f"{short}_initializer"), None)
            if initializer is None:
                raise BrainEdgeError(f"layer {name}: no initializer for its {short}")
            config = initializer.get_config()
            if "seed" in config:
                draw += 1
                config["seed"] = draw
            fresh = type(initializer).from_config(config)
            variable.assign(fresh(variable.shape, dtype=variable.dtype))
    return copy


# --- the checks ------------------------------------------------------------------------------------


@dataclass
class BundleMaps:
    name: str
    classifier: Engine
    feature_maps: list[np.ndarray]
    top: np.ndarray
    probabilities: np.ndarray


def bundle_maps(directory: Path, images: HeldOut) -> BundleMaps:
    classifier = Engine.from_bundle(directory)
    head = classifier.head
    if head is None or len(head.spec.layers) != 1:
        why = "has no head" if head is None else f"has a head of {len(head.spec.layers)} layers"
        raise BrainEdgeError(f"{shown(directory)}: the bundle {why}; class-activation maps need one dense layer")
    if classifier.class_names != images.class_names:
        raise BrainEdgeError(f"{shown(directory)}: classes {classifier.class_names} are not the run's")
    feature_maps, probabilities = [], []
    for pixels in images.pixels:
        raw = classifier.model_output(classifier.preprocess(pixels))
        feature_maps.append(raw[0])
        probabilities.append(head.probabilities(head.run(raw).logits)[0])
    probabilities = np.array(probabilities)
    return BundleMaps(directory.name, classifier, feature_maps, probabilities.argmax(1), probabilities)


def class_maps(bundle: BundleMaps, classes: np.ndarray) -> list[np.ndarray]:
    return [bundle.classifier.head.class_map(fm, int(c)) for fm, c in zip(bundle.feature_maps, classes)]


def pointing_game(
    bundle: BundleMaps, images: HeldOut, masks: dict[Path, np.ndarray], tolerance: float | None
) -> dict[str, Any]:
    per_class: dict[str, list[bool]] = {}
    exact, chance, misses = [], [], []
    used_tolerance = None
    for path, label, fm in zip(images.paths, images.labels, bundle.feature_maps):
        mask = masks[Path(path)]
        if not mask.any():
            continue
        used_tolerance = default_tolerance(*mask.shape) if tolerance is None else tolerance
        inside, near, peak = pointing_hit(bundle.classifier.head.class_map(fm, int(label)), mask, used_tolerance)
        per_class.setdefault(images.class_names[label], []).append(near)
        exact.append(inside)
        chance.append(float(dilate(mask, used_tolerance).mean()))
        if not near:
            misses.append({"image": str(Path(path).relative_to(images.root)), "peak": peak})
    hits = [hit for values in per_class.values() for hit in values]
    if not hits:
        return {"images": 0}
    return {
        "images": len(hits),
        "tolerance_px": used_tolerance,
        "hit_rate": float(np.mean(hits)),
        "hit_rate_inside_mask": float(np.mean(exact)),
        "random_point_hit_rate": float(np.mean(chance)),
        "per_class": {name: {"images": len(v), "hit_rate": float(np.mean(v))} for name, v in sorted(per_class.items())},
        "misses": misses,
    }


def map_cost(bundle: BundleMaps, images: HeldOut, count: int, repeats: int = 3) -> dict[str, Any]:
    """Median ms per image: classify() of the decoded image, and class_map + upsample to its size."""
    classifier, head = bundle.classifier, bundle.classifier.head
    chosen = images.pixels[:count]
    classifier.classify(chosen[0])  # warm the interpreter; not counted
    inference, drawing = [], []
    for _ in range(repeats):
        for pixels, fm, top in zip(chosen, bundle.feature_maps, bundle.top):
            start = time.perf_counter()
            classifier.classify(pixels)
            middle = time.perf_counter()
            upsample(head.class_map(fm, int(top)), *pixels.shape[:2])
            end = time.perf_counter()
            inference.append((middle - start) * 1000)
            drawing.append((end - middle) * 1000)
    classify_ms, map_ms = float(np.median(inference)), float(np.median(drawing))
    return {
        "images": len(chosen),
        "repeats": repeats,
        "classify_ms": classify_ms,
        "map_and_upsample_ms": map_ms,
        "map_share_of_classify": map_ms / classify_ms,
        "image_size": list(chosen[0].shape[:2]),
    }


def gallery(bundle: BundleMaps, images: HeldOut, per_class: int) -> tuple[Image.Image, list[dict[str, Any]]]:
    """``per_class`` overlays per class (misclassified first), one row per class, as classify(explain=True)
    draws them."""
    tiles, shown_images = [], []
    for label, name in enumerate(images.class_names):
        members = [i for i in range(len(images.labels)) if images.labels[i] == label]
        members.sort(key=lambda i: bundle.top[i] == label)  # misclassified first, stable otherwise
        row = []
        for i in members[:per_class]:
            prediction = bundle.classifier.classify(images.pixels[i], explain=True)
            pixels = images.pixels[i]
            rgb = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels
            large = np.asarray(Image.fromarray(rgb).resize((TILE, TILE), Image.BILINEAR))
            tile = overlay(large, prediction.class_map, f"{name} -> {prediction.label} {prediction.score:.2f}")
            if prediction.label != name:
                ImageDraw.Draw(tile).rectangle((0, 0, tile.width - 1, tile.height - 1), outline=(220, 30, 30), width=4)
            row.append(tile)
            shown_images.append(
                {
                    "image": str(Path(images.paths[i]).relative_to(images.root)),
                    "label": name,
                    "answer": prediction.label,
                }
            )
        tiles.append(row)
    height = max(tile.height for row in tiles for tile in row)  # the image and its caption's band
    sheet = Image.new("RGB", (TILE * per_class, height * len(tiles)), (0, 0, 0))
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            sheet.paste(tile, (c * TILE, r * height))
    return sheet, shown_images


def acceptance(record: dict[str, Any]) -> list[dict[str, Any]]:
    equivalence = record["equivalence"]
    checks = [
        {
            "target": f"float32 bundle's map = Grad-CAM of the Keras model: Pearson r >= {MIN_FLOAT_PEARSON} per image",
            "measured": f"min {equivalence['float_vs_grad_cam']['min']:.5f}, "
            f"mean {equivalence['float_vs_grad_cam']['mean']:.5f}",
            "met": equivalence["float_vs_grad_cam"]["min"] >= MIN_FLOAT_PEARSON,
        },
        {
            "target": f"int8 bundle's map vs float32 bundle's: mean Pearson r >= {MIN_INT8_PEARSON}",
            "measured": f"mean {equivalence['int8_vs_float']['mean']:.4f}, "
            f"min {equivalence['int8_vs_float']['min']:.4f}",
            "met": equivalence["int8_vs_float"]["mean"] >= MIN_INT8_PEARSON,
        },
    ]
    for stage in record["randomization"]["stages"]:
        if not stage["layers"]:
            continue  # the control
        checks.append(
            {
                "target": f"randomized ({stage['stage']}): mean Spearman with the trained maps <= "
                f"{MAX_RANDOMIZED_SPEARMAN}",
                "measured": f"{stage['spearman']['mean']:.3f}",
                "met": stage["spearman"]["mean"] <= MAX_RANDOMIZED_SPEARMAN,
            }
        )
    pointing = record["pointing"]
    for key in ("float", "int8"):
        if pointing.get(key, {}).get("images"):
            game = pointing[key]
            checks.append(
                {
                    "target": f"pointing game, {record['bundles'][key]}: hit rate >= {MIN_POINTING_HIT_RATE:.0%}",
                    "measured": f"{game['hit_rate']:.1%} of {game['images']} (random point "
                    f"{game['random_point_hit_rate']:.1%})",
                    "met": game["hit_rate"] >= MIN_POINTING_HIT_RATE,
                }
            )
    return checks


def markdown(record: dict[str, Any]) -> str:
    equivalence, pointing = record["equivalence"], record["pointing"]
    fm = record["feature_map"]
    lines = [
        "# Class-activation maps, checked (issue 18)",
        "",
        f"Command: `{record['command']}`  ",
        f"Run: `{record['run']}`; bundles `{record['bundles']['float']}` and `{record['bundles']['int8']}` "
        f"(feature map {fm[0]}x{fm[1]}x{fm[2]}).  ",
        f"Images: {record['images']['count']} of the test split (leaked ones left out): "
        + ", ".join(f"{name} {count}" for name, count in record["images"]["per_class"].items())
        + ".  ",
        f"Device: {record['device']['cpu']} ({record['device']['cores']} cores)",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    lines += [f"| {c['target']} | {c['measured']} | {'yes' if c['met'] else '**no**'} |" for c in record["acceptance"]]
    grad, int8 = equivalence["float_vs_grad_cam"], equivalence["int8_vs_float"]
    lines += [
        "",
        "## Equivalence with Grad-CAM",
        "",
        "Grad-CAM: `tf.GradientTape` gradient of the class logit (before the softmax) w.r.t. the last "
        "feature map, averaged over positions, weights the channels; positive part. The runtime's map "
        "needs no gradient (`Head.class_map`). Pearson r per image at feature-map resolution, for the "
        "float32 bundle's top class (the int8 map is of the same class).",
        "",
        "| pair | images | mean r | min r | 5th percentile |",
        "|---|---|---|---|---|",
        f"| float32 bundle vs Grad-CAM (Keras) | {grad['count']} | {grad['mean']:.5f} | {grad['min']:.5f} | "
        f"{grad['p05']:.5f} |",
        f"| int8 bundle vs float32 bundle | {int8['count']} | {int8['mean']:.4f} | {int8['min']:.4f} | "
        f"{int8['p05']:.4f} |",
        "",
        f"The int8 bundle's top class differs from the float32 bundle's on "
        f"{equivalence['int8_top_class_differs']} of {int8['count']} images.",
        "",
        "## Randomization (Adebayo et al. 2018)",
        "",
        f"Each stage re-initializes the layers named with their own initializers ({record['randomization']['draws']} "
        "draws per stage) and compares Grad-CAM of the trained model's top class, Spearman rank correlation "
        "per image (an all-zero map counts as 0). The control copies the model without re-initializing "
        "anything: the measure itself gives 1 there.",
        "",
        "| stage | layers re-initialized | mean Spearman | min | max | all-zero maps |",
        "|---|---|---|---|---|---|",
    ]
    for stage in record["randomization"]["stages"]:
        rho = stage["spearman"]
        lines.append(
            f"| {stage['stage']} | {len(stage['layers'])} | {rho['mean']:.3f} | {rho['min']:.3f} | {rho['max']:.3f} | "
            f"{stage['empty_maps']} |"
        )
    lines += ["", "## Pointing game", ""]
    if not pointing["available"]:
        lines.append(f"Not measured: {pointing['why']}.")
    else:
        game = pointing["float"]
        lines += [
            f"Data: {pointing['why']}. The true class's map, upsampled to the image; a hit when its maximum lies "
            f"within {game['tolerance_px']:.2f} px of the lesion (15 px at 224 px, scaled to the image side), "
            "i.e. inside the mask dilated by a disk of that radius. A uniformly random point hits as often as "
            "the dilated lesion's share of the image.",
            "",
            "| bundle | tumour images | hit rate | inside the undilated mask | random point | "
            + " | ".join(game["per_class"])
            + " |",
            "|---|---|---|---|---|" + "---|" * len(game["per_class"]),
        ]
        for key in ("float", "int8"):
            game = pointing[key]
            lines.append(
                f"| {record['bundles'][key]} | {game['images']} | **{game['hit_rate']:.1%}** | "
                f"{game['hit_rate_inside_mask']:.1%} | {game['random_point_hit_rate']:.1%} | "
                + " | ".join(f"{v['hit_rate']:.0%} of {v['images']}" for v in game["per_class"].values())
                + " |"
            )
    lines += [
        "",
        "## Cost and size",
        "",
        "| bundle | classify ms (decoded image) | map + upsample ms | share |",
        "|---|---|---|---|",
    ]
    for key in ("float", "int8"):
        cost = record["cost"][key]
        lines.append(
            f"| {record['bundles'][key]} | {cost['classify_ms']:.3f} | {cost['map_and_upsample_ms']:.3f} | "
            f"{cost['map_share_of_classify']:.1%} |"
        )
    size = record["size"]
    lines += [
        "",
        f"Medians over {record['cost']['float']['images']} images x {record['cost']['float']['repeats']}, upsampled "
        f"to {record['cost']['float']['image_size'][0]}x{record['cost']['float']['image_size'][1]} px.",
        "",
        f"Bundle size: **+{size['extra_bytes']} bytes**. {size['why']}",
        "",
        f"Gallery: `{record['gallery']['file']}` ({record['bundles']['int8']}, "
        f"{record['gallery']['per_class']} per class, misclassified first and framed in red).",
        "",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    outputs = {suffix: args.out.with_name(args.out.name + suffix) for suffix in (".json", ".md", ".png")}
    for path in outputs.values():
        check_output_file(path)
    positive = ("--images", "--gallery-per-class", "--timing-images", "--draws")
    for name in positive:
        value = getattr(args, name[2:].replace("-", "_"))
        if value is not None and value < 1:
            raise BrainEdgeError(f"{name} must be at least 1, got {value}")
    bundle_dirs = {"float": args.export_dir / args.float_bundle, "int8": args.export_dir / args.int8_bundle}
    for directory in bundle_dirs.values():
        if not directory.is_dir():
            raise BrainEdgeError(
                f"{shown(directory)}: no such bundle; export it with brainedge-export {shown(args.run_dir)} "
                f"--variants {args.float_bundle} {args.int8_bundle}"
            )
    config, images = load_images(args.run_dir, args.images)
    print(f"{len(images.paths)} test images; reading both bundles", flush=True)
    bundles = {key: bundle_maps(directory, images) for key, directory in bundle_dirs.items()}
    top = bundles["float"].top
    float_maps = class_maps(bundles["float"], top)
    int8_maps = class_maps(bundles["int8"], top)

    print("Grad-CAM of the Keras model", flush=True)
    from brainedge.train.tf_setup import keras

    model_path = RunDirectory(args.run_dir).float_model_path
    if not model_path.is_file():
        raise BrainEdgeError(f"{shown(args.run_dir)}: no trained model ({model_path.name}); did training finish?")
    model = keras.models.load_model(model_path)
    spec = spec_from_dict(InputSpec, config["input"])
    inputs = np.concatenate([to_input_tensor(pixels, spec) for pixels in images.pixels])
    trained = grad_cam(model, inputs, top)
    equivalence = {
        "float_vs_grad_cam": summary([pearson(a, b) for a, b in zip(float_maps, trained)]),
        "int8_vs_float": summary([pearson(a, b) for a, b in zip(int8_maps, float_maps)]),
        "int8_top_class_differs": int((bundles["int8"].top != top).sum()),
    }

    stages = []
    for stage, layers in [("none (control: the trained weights copied)", []), *cascade_stages(model, args.cascade)]:
        print(f"randomized: {stage}", flush=True)
        rhos, empty = [], 0
        for draw in range(args.draws if layers else 1):
            maps = grad_cam(randomized(model, layers, seed=draw), inputs, top)
            empty += int(sum(not m.any() for m in maps))
            rhos += [spearman(a, b) for a, b in zip(trained, maps)]
        stages.append({"stage": stage, "layers": layers, "spearman": summary(rhos), "empty_maps": empty})

    masks, why = synthetic_masks(images, args.synthetic_seed)
    pointing: dict[str, Any] = {"available": masks is not None, "why": why}
    if masks is not None:
        print("pointing game", flush=True)
        for key, bundle in bundles.items():
            pointing[key] = pointing_game(bundle, images, masks, args.tolerance)
        if not pointing["float"]["images"]:
            pointing = {"available": False, "why": "no test image has a lesion"}

    print("timing", flush=True)
    cost = {key: map_cost(bundle, images, args.timing_images) for key, bundle in bundles.items()}
    head = bundles["int8"].classifier.head.spec
    head_bytes = (bundle_dirs["int8"] / head.file).stat().st_size
    sheet, shown_images = gallery(bundles["int8"], images, args.gallery_per_class)
    record = {
        "command": args.command,
        "run": str(args.run_dir),
        "bundles": {key: bundle.name for key, bundle in bundles.items()},
        "images": {
            "split": "test",
            "count": len(images.paths),
            "per_class": {n: int((images.labels == i).sum()) for i, n in enumerate(images.class_names)},
        },
        "feature_map": list(bundles["float"].feature_maps[0].shape),
        "equivalence": equivalence,
        "randomization": {"draws": args.draws, "stages": stages},
        "pointing": pointing,
        "cost": cost,
        "size": {
            "extra_bytes": 0,
            "head_file_bytes": head_bytes,
            "why": f"Maps are drawn from the feature map the model already outputs and the head file "
            f"({head.file}, {head_bytes} bytes) every schema-2 bundle carries to compute its logits; "
            "nothing is added for them.",
        },
        "gallery": {"file": outputs[".png"].name, "per_class": args.gallery_per_class, "images": shown_images},
        "device": device_record(),
    }
    record["acceptance"] = acceptance(record)
    text = markdown(record)
    write_output(outputs[".png"], png_bytes(sheet))
    write_output(outputs[".json"], (json.dumps(record, indent=2) + "\n").encode())
    write_output(outputs[".md"], text.encode())
    print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m brainedge.benchmarks.studies.class_maps",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, help="the brainedge-train run the bundles were exported from")
    parser.add_argument("export_dir", type=Path, help="brainedge-export's output folder")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix (.json, .md, .png)")
    parser.add_argument("--float", dest="float_bundle", default="tflite_float32", help="float bundle's folder name")
    parser.add_argument("--int8", dest="int8_bundle", default="tflite_int8_ptq", help="int8 bundle's folder name")
    parser.add_argument("--images", type=int, default=200, help="test images, spread over the split (default 200)")
    parser.add_argument("--cascade", type=int, default=3, help="convolutions re-initialized at the last stage")
    parser.add_argument("--draws", type=int, default=3, help="random draws per randomization stage")
    parser.add_argument("--synthetic-seed", type=int, default=0, help="seed of generate_dataset, for the masks")
    parser.add_argument("--tolerance", type=float, help="pointing tolerance in px (default 15/224 of the side)")
    parser.add_argument("--timing-images", type=int, default=20)
    parser.add_argument("--gallery-per-class", type=int, default=3)
    parser.add_argument("--command", help="the command to record (default: this one)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        args.command = study_command("class_maps", argv)
    return report_user_errors(run, args)


if __name__ == "__main__":
    sys.exit(main())
