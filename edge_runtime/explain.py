"""Where the model looked: class-activation maps drawn over the image, with numpy and Pillow only.

For a head of global average pooling and one dense layer, the class-activation map of class c is
exact and needs no gradient: the last feature map weighted by the head's weights for c (``Head.class_map``),
equal to Grad-CAM for this head up to its scale. Maps are upsampled with the preprocessing contract's
resize, so they line up with the pixels the model saw.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from brainedge.edge_runtime.errors import BrainEdgeError
from brainedge.edge_runtime.files import shown
from brainedge.edge_runtime.preprocess import ImageSource, decode_rgb, resize_bilinear

VIRIDIS = np.frombuffer(
    bytes.fromhex(
        "44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769"
        "48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a"
        "472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85"
        "4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b"
        "3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d"
        "33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e"
        "2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e"
        "26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d"
        "21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88"
        "1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81"
        "28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74"
        "3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863"
        "5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d"
        "84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32"
        "addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a"
        "d8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725"
    ),
    np.uint8,
).reshape(256, 3)
"""matplotlib's viridis (CC0), 256 steps: perceptually uniform, readable in greyscale and by colour-blind readers."""

OVERLAY_ALPHA = 0.45
SHORT_SIDE_AT_LEAST = 256
"""A smaller image is drawn larger (nearest pixels), so the caption fits and the map can be seen."""
LONG_SIDE_AT_MOST = 1024
"""A larger image is drawn smaller, as the Android app does: a 36 MP scan needed 1.5 GB at full size."""
MIN_FONT = 9
CAPTION_WIDTH = 256


def upsample(class_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """A map in [0, 1] at feature-map resolution, at the image's size (the contract's bilinear resize)."""
    return np.clip(resize_bilinear(class_map.astype(np.float32)[..., None], height, width)[..., 0], 0.0, 1.0)


def overlay(image: ImageSource, class_map: np.ndarray | None, caption: str) -> Image.Image:
    """The image (anything ``classify`` takes) with the map blended over it in viridis, the caption
    in a band above it (the whole image stays visible).

    Drawn at a size between SHORT_SIDE_AT_LEAST and LONG_SIDE_AT_MOST px where the image allows, so
    neither a thumbnail nor a 36 MP scan gives an unreadable or a huge picture.
    """
    if class_map is None or class_map.ndim != 2 or class_map.size == 0:
        raise BrainEdgeError("no class map to draw: classify with explain=True (one image's map is H x W)")
    if not np.isfinite(class_map).all():
        raise BrainEdgeError("the class map is not finite (NaN or infinity): nothing to draw")
    drawn = Image.fromarray(blend(display_size(decode_rgb(image)), class_map), "RGB")
    return _with_caption(drawn, caption)


def blend(pixels: np.ndarray, class_map: np.ndarray) -> np.ndarray:
    """RGB pixels with the map, upsampled to their size, blended in viridis: the arithmetic the app repeats."""
    height, width = pixels.shape[:2]
    heat = VIRIDIS[np.rint(upsample(class_map, height, width) * 255).astype(np.uint8)]
    blended = (1 - OVERLAY_ALPHA) * pixels.astype(np.float32) + OVERLAY_ALPHA * heat.astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def png_bytes(image: Image.Image, source: str = "", answer: str = "") -> bytes:
    """PNG bytes, with the source image and the answer in its text chunks (an overlay says what it shows).

    Fast compression: on a Pi, encoding took several times longer than classifying.
    """
    info = PngImagePlugin.PngInfo()
    for key, value in (("Source", source), ("Answer", answer)):
        if value:
            info.add_itxt(key, shown(value))  # a name that is not UTF-8: \xNN escapes
    stream = io.BytesIO()
    image.save(stream, format="PNG", pnginfo=info, compress_level=1)
    return stream.getvalue()


def display_size(pixels: np.ndarray) -> np.ndarray:
    """RGB pixels at the size an overlay is drawn at (the server keeps this copy, not the full scan)."""
    height, width = pixels.shape[:2]
    if height == 0 or width == 0:
        raise BrainEdgeError("an empty image (0 pixels) has nothing to draw a map over")
    if max(height, width) > LONG_SIDE_AT_MOST:
        scale = LONG_SIDE_AT_MOST / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))
    if min(height, width) < SHORT_SIDE_AT_LEAST:
        factor = min(-(-SHORT_SIDE_AT_LEAST // min(height, width)), LONG_SIDE_AT_MOST // max(height, width)) or 1
        return pixels.repeat(factor, axis=0).repeat(factor, axis=1)
    return pixels


def _with_caption(image: Image.Image, text: str) -> Image.Image:
    """The image under a black band holding the caption, its font shrunk (and the text shortened) to
    fit; at least CAPTION_WIDTH px wide so a thin strip's caption can still be read."""
    width = max(image.width, CAPTION_WIDTH)
    size = max(MIN_FONT + 3, width // 28)
    while True:
        font = ImageFont.load_default(size=size)
        if font.getbbox(text)[2] <= width - 12 or size <= MIN_FONT:
            break
        size -= 1
    while len(text) > 1 and font.getbbox(text)[2] > width - 12:
        text = text[:-2] + "…"
    band = font.getbbox("Ag…")[3] + 8
    canvas = Image.new("RGB", (width, band + image.height), (0, 0, 0))
    canvas.paste(image, ((width - image.width) // 2, band))
    ImageDraw.Draw(canvas).text((6, 4), text, fill=(255, 255, 255), font=font)
    return canvas
