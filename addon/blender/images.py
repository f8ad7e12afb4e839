"""Image I/O between Blender's image datablocks and NFTGan (main thread only, except ImageData.file_bytes).

- `find_sketch()`: which image the user means; `snapshot()`: its pixels in one foreach_get (the only bpy
  work before inference).
- `write_result()`: a result image datablock (float, linear), filled with foreach_set and packed from the
  worker's PNG; `imageio.result_payload()` makes both on the worker.
- `image_data()`: an image's bytes for publishing (the file's own bytes when at hand, else a snapshot the
  worker encodes).
- `render_png()` / `render_snapshot()`: the Render Result as shown, rendering the scene first if needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import bpy
import numpy as np
from bpy.app.handlers import persistent

from ..core import imageio
from ..core.errors import UserError
from ..core.publish import provenance
from . import runtime

RESULT_TAG = "nftgan_stage"  # custom property on every image NFTGan wrote: the stage that made it
MODELS_TAG = "nftgan_models"  # ... and the models that made it (JSON provenance records)


def find_sketch(context, name: str = ""):
    """The sketch: a named image, else the Image Editor's image, else (Texture Paint) the image being
    painted, else the scene's sketch."""
    if name:
        return bpy.data.images.get(name)
    space = getattr(context, "space_data", None)
    if (
        space is not None
        and space.type == "IMAGE_EDITOR"
        and space.image is not None
        and space.image.type == "IMAGE"
    ):
        return space.image
    if context.mode == "PAINT_TEXTURE":
        paint = context.scene.tool_settings.image_paint
        if paint.mode == "IMAGE" and paint.canvas is not None:
            return paint.canvas
        mat = getattr(context.active_object, "active_material", None)
        if paint.mode == "MATERIAL" and mat is not None and mat.texture_paint_images:
            return mat.texture_paint_images[min(mat.paint_active_slot, len(mat.texture_paint_images) - 1)]
    return context.scene.nftgan.sketch


def snapshot_bytes(image) -> int:
    """The memory `snapshot(image)` takes, from the image's size alone."""
    w, h = image.size
    return 4 * w * h * image.channels


def snapshot(image) -> tuple[np.ndarray, bool]:
    """(pixels (H, W, C) float32 bottom-up, is_linear): one foreach_get, nothing else on the main thread.
    An image too large for NFTGan's memory limit is refused from its size, before anything is copied."""
    w, h = image.size
    if w == 0 or h == 0:
        raise UserError(f"'{image.name}' has no pixels (its file may be missing); load or paint it first.")
    imageio.check_size(h, w, f"'{image.name}'")
    channels = image.channels
    imageio.check_memory(  # from the image's size, before anything is copied
        snapshot_bytes(image), f"copying '{image.name}' ({w}x{h} px)", "Scale the image down first."
    )
    buf = np.empty(w * h * channels, dtype=np.float32)
    image.pixels.foreach_get(buf)
    linear = image.is_float and image.colorspace_settings.name.lower().startswith("linear")
    return buf.reshape(h, w, channels), linear


def write_result(
    name: str,
    flat: np.ndarray,
    w: int,
    h: int,
    png: bytes,
    stage: str,
    source: str,
    source_uid,
    models: list[dict],
):
    """Write the result image `name` and return it: the previous result of that name is updated in place
    when it has the same size (materials showing it follow, nothing is reallocated), else a new datablock
    takes over its users. Results are float images: foreach_set of the linear floats `imageio.result_payload`
    made is a copy (about 2 ms at 1024^2), where an 8-bit image converts every value on the main thread
    (15 ms). The worker's PNG bytes are packed as its file (what a saved .blend keeps, publishing sends).
    The image records its stage, its source image's name and the models that made it (provenance
    records, as JSON: `models_of()`)."""
    old = bpy.data.images.get(name)
    if old is not None and (not old.get(RESULT_TAG) or old.session_uid == source_uid):
        old = None  # never touch a user's own image (or the sketch): the new one gets a numbered name
    if old is not None and tuple(old.size) == (w, h) and old.is_float:
        image = old
    else:
        image = bpy.data.images.new(name, w, h, alpha=True, float_buffer=True)
        image.filepath_raw = f"//{bpy.path.clean_name(name)}.png"
        image.file_format = "PNG"
        image.use_fake_user = True  # a result is kept until the user deletes it
    image.pixels.foreach_set(flat)
    image.pack(data=png, data_len=len(png))
    image[RESULT_TAG], image["nftgan_source"] = stage, source
    image[MODELS_TAG] = provenance.models_json(models)
    if old is not None and image is not old:
        old.user_remap(image)  # materials showing the previous result now show the new one
        bpy.data.images.remove(old)
        image.name = name
    return image


def models_of(image) -> list[dict]:
    """The provenance records of the models that made this image ([] for an image NFTGan did not make)."""
    return provenance.models_from_json(str(image.get(MODELS_TAG, "")))


@dataclass
class ImageData:
    """An image's bytes as the main thread takes them: the file's own bytes when at hand (`data`, `ext`),
    else a pixel snapshot (`pixels`, `linear`) that `file_bytes()` encodes as PNG on the worker."""

    data: bytes | None = None
    ext: str = ".png"
    pixels: np.ndarray | None = None
    linear: bool = False

    def file_bytes(self) -> tuple[bytes, str]:
        """(bytes, extension); encodes a snapshot as PNG (worker thread: no bpy here)."""
        if self.data is not None:
            return self.data, self.ext
        pixels = imageio.linear_to_srgb(self.pixels) if self.linear else self.pixels
        return imageio.encode_png(pixels), ".png"


def image_data(image) -> ImageData:
    """Main thread: the image's own file bytes when they are at hand (packed PNG / JPEG, an unchanged file
    on disk, the saved Render Result), else a pixel snapshot (generated or painted-on images)."""
    if image.type == "RENDER_RESULT":
        return ImageData(render_png())
    if not image.is_dirty:
        if image.packed_file is not None:
            data = bytes(image.packed_file.data)
            ext = ".png" if data.startswith(b"\x89PNG") else ".jpg" if data.startswith(b"\xff\xd8") else ""
            if ext:
                return ImageData(data, ext)
        path = bpy.path.abspath(image.filepath_raw or image.filepath)
        ext = os.path.splitext(path)[1].lower()
        if image.source == "FILE" and ext in (".png", ".jpg", ".jpeg", ".webp") and os.path.isfile(path):
            with open(path, "rb") as fh:
                return ImageData(fh.read(), ext)
    pixels, linear = snapshot(image)
    return ImageData(pixels=pixels, linear=linear)


# ----------------------------------------------------------------------------------------------- the render


def _save_render(path: str) -> bool:
    """Save the Render Result as shown (view transform applied); False when there is no render yet."""
    result = next((im for im in bpy.data.images if im.type == "RENDER_RESULT"), None)
    if result is None:
        return False
    try:
        result.save_render(filepath=path)
    except RuntimeError:
        return False
    return os.path.exists(path)


def _render_to(path: str) -> None:
    """The Render Result as shown, saved to `path`; renders the scene first when there is no render yet."""
    if not _save_render(path):
        bpy.ops.render.render()
        if not _save_render(path):
            raise UserError("Rendering produced no image")


def render_png() -> bytes:
    """The Render Result as PNG bytes (rendered first when there is none)."""
    path = os.path.join(runtime.user_dir("render"), "render.png")
    try:
        _render_to(path)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        if os.path.exists(path):
            os.remove(path)


def render_snapshot() -> tuple[np.ndarray, bool]:
    """The Render Result's pixels as shown, like snapshot() (rendered first when there is none)."""
    path = os.path.join(runtime.user_dir("render"), "render.png")
    _render_to(path)
    image = bpy.data.images.load(path, check_existing=False)
    try:
        return snapshot(image)
    finally:
        bpy.data.images.remove(image)
        os.remove(path)


# ----------------------------------------------------------------------------------------------- saving


@persistent
def _on_save_pre(*_args):
    """Results are packed PNGs held in memory; make them file-backed so the .blend keeps them."""
    for image in bpy.data.images:
        if image.get(RESULT_TAG) and image.source == "GENERATED" and image.packed_file:
            image.source = "FILE"


def register():
    bpy.app.handlers.save_pre.append(_on_save_pre)


def unregister():
    if _on_save_pre in bpy.app.handlers.save_pre:
        bpy.app.handlers.save_pre.remove(_on_save_pre)
