"""Image I/O between Blender's image datablocks and NFTGan (main thread only, except ImageData.file_bytes).

- `find_sketch()`: which image the user means; `snapshot()`: its pixels in one foreach_get (the only bpy
  work before inference), and whether they are a float buffer's (scene linear, alpha premultiplied: the
  worker converts them to sRGB before inference or encoding, `imageio.float_pixels_to_srgb`).
- `write_steps()`: a result image datablock (float, linear), filled with foreach_set and packed from the
  worker's PNG, in main-thread pieces that `runtime.later` spreads over timer ticks; `result_payload()` makes
  both on the worker. A result the user painted on is never written
  into: it is kept as it is and the new result takes a numbered name. Saving the .blend turns results into
  their packed PNGs, packed again from the pixels first when the user painted on them (`_on_save_pre`).
- `image_data()`: an image's bytes for publishing (the file's own bytes when at hand, else a snapshot the
  worker encodes).
- `render_png()` / `render_snapshot()`: the Render Result as shown, rendering the scene first if needed.
"""

from __future__ import annotations

import functools
import os
import zlib
from dataclasses import dataclass
from typing import NamedTuple

import bpy
import mathutils
import numpy as np
from bpy.app.handlers import persistent

from ..core import imageio, pipeline
from ..core.errors import UserError
from ..core.imageio import pixels_digest
from ..core.publish import provenance
from . import runtime

RESULT_TAG = "nftgan_stage"  # custom property on every image NFTGan wrote: the stage that made it
MODELS_TAG = "nftgan_models"  # ... and the models that made it (JSON provenance records)
CANVAS_TAG = "nftgan_canvas"  # custom property on an image New Sketch Canvas made (packed when saved)
PAINTED_TAG = "nftgan_painted"  # ... on a result the user painted on (saved so, or kept): never written into
PACKED_TAG = "nftgan_packed"  # ... on a result: the size and crc32 of the PNG NFTGan packed ("SIZE CRC")
SKETCH_TAG = "nftgan_sketch"  # ... on a result: pixels_digest (hex) of the sketch snapshot it was made of
SHOWN_TAG = "nftgan_shown"  # ... on a result: pixels_digest (hex) of the 8-bit image of the PNG NFTGan packed
LINES_TAG = (
    "nftgan_lines"  # ... on a result that NFTGan made a line drawing (an ink style's): painted on, it is
)
# not taken for one the artist redrew as a line sketch (Publish names its models and says it was painted on)
SOURCE_TAG = "nftgan_source"  # ... on a result: the name of the image it was made of (`_sketch_of`)
NAMED_TAG = "nftgan_named"  # ... on a result: the name NFTGan gave it (renamed by the artist if it differs)
# ... on a result made of an NFTGan image the artist cleared and redrew as a line sketch (Stylize colorized it as
# one): that image is its sketch, which Publish names (a result restyled from one in colour names none)
DRAWN_TAG = "nftgan_drawn"


def find_sketch(context, name: str = ""):
    """The sketch: a named image, else the Image Editor's image, else (Texture Paint) the image being
    painted, else the scene's sketch."""
    if name:
        return bpy.data.images.get(name)
    space = getattr(context, "space_data", None)
    if space is not None and space.type == "IMAGE_EDITOR" and space.image is not None:
        return space.image  # whatever it is (the render: Stylize takes the render, others are refused)
    if context.mode == "PAINT_TEXTURE":
        paint = context.scene.tool_settings.image_paint
        if paint.mode == "IMAGE" and paint.canvas is not None:
            return paint.canvas
        mat = getattr(context.active_object, "active_material", None)
        if paint.mode == "MATERIAL" and mat is not None and mat.texture_paint_images:
            return mat.texture_paint_images[min(mat.paint_active_slot, len(mat.texture_paint_images) - 1)]
    return context.scene.nftgan.sketch


def file_path(image) -> str:
    """The file an image shows, when it is one on disk ("" for a packed, generated or linked-library image): a
    path, no file I/O."""
    if image.source != "FILE" or image.packed_file is not None or image.library is not None:
        return ""
    return bpy.path.abspath(image.filepath)


def snapshot_bytes(image) -> int:
    """The memory `snapshot(image)` takes, from the image's size alone."""
    w, h = image.size
    return 4 * w * h * image.channels


def is_linear(image) -> bool:
    """Whether the image's pixels are a float buffer's: scene linear with premultiplied alpha, whatever its
    colour space setting says (that names the file's space, converted from when Blender loads it: a 16-bit
    or EXR sketch with "sRGB" set holds linear floats too). Non-Color data is taken as it is.
    `Image.pixels` (bpy 4.2.13 and 5.3.0): an 8-bit image's colour is straight (Blender divides a
    Premultiplied file's by its alpha on load), a float image's premultiplied (a Straight float file is
    multiplied on load), except with Alpha Channel Packed (the file's values as they are: `snapshot` makes
    it opaque, so nothing is divided) or None (alpha 1)."""
    return bool(image.is_float) and not image.colorspace_settings.is_data


IDENTITY_ATOL = 1e-4  # a matrix this close to the identity moves no value by a tenth of an 8-bit level


def scene_matrices() -> tuple[np.ndarray | None, np.ndarray | None]:
    """(linear Rec.709 -> scene linear, scene linear -> linear Rec.709) as 3x3 matrices, from Blender's own
    colour management (mathutils.Color), or (None, None) when the scene linear space is Rec.709 (Blender's
    default; a Blender 5 file's working space may be Rec.2020 or ACEScg, an OCIO config another).
    Blender 4.x derives these through XYZ in float: for its Rec.709 scene space they are the identity only
    within 5.5e-6 (Blender 5 gives it exactly), so "Rec.709" means within IDENTITY_ATOL; any other space
    differs by 1e-2 or more."""
    rows = []
    for name in ("from_rec709_linear_to_scene_linear", "from_scene_linear_to_rec709_linear"):
        if not hasattr(mathutils.Color, name):  # a Blender without them: Rec.709
            return None, None
        rows.append(np.array([getattr(mathutils.Color(e), name)() for e in np.eye(3)], np.float32).T)
    if all(np.allclose(m, np.eye(3), rtol=0, atol=IDENTITY_ATOL) for m in rows):
        return None, None
    return rows[0], rows[1]


_spaces: list[str] = []  # the colour spaces of a new 8-bit and a new float image


def _default_space(float_buffer: bool) -> str:
    """The colour space a new image gets, from the colour configuration (Blender's own: "sRGB" for 8-bit,
    "Linear Rec.709" for float). Found once, from images made for a moment."""
    if not _spaces:
        for is_float in (False, True):
            probe = bpy.data.images.new("NFTGan colour space probe", 1, 1, float_buffer=is_float)
            _spaces.append(probe.colorspace_settings.name)
            bpy.data.images.remove(probe)
    return _spaces[float_buffer]


def byte_space() -> str:
    """The colour space of a new 8-bit image: its bytes are what it shows."""
    return _default_space(False)


def check_image(image) -> None:
    """UserError / ImageError naming the image when it is not one still picture that its pixels hold whole
    (the render or the compositor's Viewer, whose pixels Python cannot read; a movie or image sequence; a UDIM
    image of several tiles, whose pixels are its first tile's alone), when its pixels are not what it shows
    (8-bit in a colour space other than the 8-bit default or Non-Color), when it has no pixels (a missing file
    shows 0x0) or is larger than NFTGan handles."""
    save_as = "as an image (Image > Save As in the Image Editor), open that image and stylize it"
    if image.type == "RENDER_RESULT":
        raise UserError(f"'{image.name}' is Blender's render: use Stylize Render, or save it {save_as}.")
    if image.type == "COMPOSITING":
        raise UserError(f"'{image.name}' is the compositor's preview: save it {save_as}.")
    if image.source in ("MOVIE", "SEQUENCE"):
        what = "a movie" if image.source == "MOVIE" else "an image sequence"
        raise UserError(
            f"'{image.name}' is {what}, and NFTGan takes a still picture: save the frame you want {save_as}."
        )
    if image.source == "TILED" and len(image.tiles) > 1:
        raise UserError(
            f"'{image.name}' is a UDIM image of {len(image.tiles)} tiles, and NFTGan takes a single picture: "
            f"it would see only tile {image.tiles[0].number}. Save the tile you want as an image of its own "
            "and stylize that."
        )
    w, h = image.size
    if w == 0 or h == 0:
        raise UserError(
            f"'{image.name}' has no pixels (its file may be missing or unreadable); load or paint it first."
        )
    space = image.colorspace_settings
    if not image.is_float and not space.is_data and space.name != byte_space():
        raise UserError(
            f"'{image.name}' is an 8-bit image in '{space.name}', which Blender converts for display, and "
            f"NFTGan would read its bytes as {byte_space()}: set its Color Space to {byte_space()} (Image "
            "Editor > Sidebar > Image) to stylize its pixels as they are."
        )
    imageio.check_size(h, w, f"'{image.name}'")


# Alpha modes whose alpha is not coverage: Channel Packed (another map: a game texture's roughness...) and None.
# Such an image is read as its colour, opaque (Blender gives None's alpha as 1 only for a file it loaded, not for
# a canvas set to None after painting; a Channel Packed float file's colour is not premultiplied).
NOT_COVERAGE = ("CHANNEL_PACKED", "NONE")


def snapshot(image) -> tuple[np.ndarray, bool]:
    """(pixels (H, W, C) float32 bottom-up, is_linear): one foreach_get, nothing else on the main thread;
    linear pixels are converted to sRGB on the worker (`imageio.float_pixels_to_srgb`). An image whose alpha
    is not coverage (`NOT_COVERAGE`) is opaque: its alpha set to 1.
    An image too large for NFTGan's memory limit is refused from its size, before anything is copied."""
    check_image(image)
    w, h = image.size
    channels = image.channels
    imageio.check_memory(  # from the image's size, before anything is copied
        snapshot_bytes(image), f"copying '{image.name}' ({w}x{h} px)", "Scale the image down first."
    )
    buf = np.empty(w * h * channels, dtype=np.float32)
    image.pixels.foreach_get(buf)
    if channels == 4 and image.alpha_mode in NOT_COVERAGE:
        buf[3::4] = 1.0  # (0.7 ms at 1024^2, only for such an image)
    return buf.reshape(h, w, channels), is_linear(image)


def result_name(base: str, suffix: str) -> str:
    """ "<base> <suffix>", the name of a result of the image `base`: `base` is shortened (at a character) so
    that the whole fits Blender's name length (63 bytes before Blender 5, 255 from 5.0 on) with room for a
    ".NNN" number; else Blender cuts the suffix off, and the next Stylize does not find the result. The room
    is the longest suffix's ("colorized"), so all of a sketch's results share one shortened base: cut to each
    suffix's own room, "<base> colorized" was one byte shorter than "<base> stylized", and restyled (named
    after `result_stem`, the shorter base) gave a new "<base less a byte> stylized" beside the sketch's own
    result instead of its numbered one."""
    longest = max(len(f" {s}.NNN".encode()) for s in (suffix, *pipeline.RESULT_SUFFIX.values()))
    room = bpy.types.ID.bl_rna.properties["name"].length_max - 1 - longest
    raw = base.encode()
    if len(raw) > room:
        base = raw[: max(room, 0)].decode(errors="ignore")  # (a character cut in two is left out)
    return f"{base} {suffix}"


_written: dict[int, int] = {}  # result image's session_uid -> digest of the pixels NFTGan wrote into it last
# result image's session_uid -> (the digest of the floats NFTGan wrote, the PNG it packed of them), while the
# result is a float image: Publish sends that PNG as it is when the pixels are still those (`ImageData.packed`)
_packed: dict[int, tuple[int, bytes]] = {}
# The sketch link. Each result knows the image it was made of (its sketch) by that image's session_uid, which
# Blender keeps while the file is open, across renames and Undo (a result deleted and brought back by Undo too):
# result's session_uid -> its sketch's session_uid, from the result's write (`write_steps`), or, for the
# results of a file just opened or of an Undo step with results not known yet, from the name they record
# (SOURCE_TAG, `_adopt`). Decisions are made by it (`made_of`, `sketch_of`); the name is what the saved file
# keeps (`_on_save_pre`). Never emptied but by a file load: a deleted result's entry costs nothing, and is
# there again when Undo brings it back (its session_uid is not given to another image).
_sketch_of: dict[int, int] = {}
# sketch's session_uid -> the name its results last followed (`follow_sketches`)
_seen: dict[int, str] = {}


def follow_sketches() -> None:
    """Main thread, each runtime tick (Blender's timer: 5 a second, 100 while main-thread steps are queued;
    tests call it): the results of a sketch renamed since ("Sketch" -> "House") follow it. They record its new
    name (SOURCE_TAG) at once, and those NFTGan named after it ("Sketch colorized", "Sketch stylized.001")
    take the new name ("House colorized") where it is free, soon after the rename, not at its next Stylize:
    the same images, so a material showing one follows. A result the artist renamed, painted on or unpacked to
    a file stays as it is (theirs), and so do the results of a sketch that is itself an NFTGan result (a
    restyle's, named after its sketch: its next Stylize names them, `_of_renamed_sketch`). The renames are
    main-thread steps of their own (`_rename_steps`, queued with `runtime.later`: after a write already
    queued, before one queued later; a save finishes them first), as the look at a result's pixels that tells
    paint takes one of Blender's whole-image reads and a digest. Nothing renamed: one pass over the images'
    session_uids (16 µs for 100 images, 25 of them sketches; bpy 5.3.0); a rename: a second pass here, the
    rest in later ticks."""
    for uid, old in _renamed():
        runtime.later(_rename_steps(uid, old))


def _renamed(sketch_uid: int | None = None) -> list[tuple[int, str]]:
    """The sketches renamed since the last look, as (session_uid, the name their results last followed), whose
    results NFTGan renames after them (not a sketch that is itself a result). The new name is recorded now
    (`_seen`, each result's SOURCE_TAG): what a save writes; the results' renames are `_rename_steps`."""
    if not _seen:
        return []
    images = bpy.data.images
    if sketch_uid is not None:
        name = _seen.get(sketch_uid)
        if name is None or getattr(images.get(name), "session_uid", None) == sketch_uid:
            return []
    moved, found = {}, set()
    for image in images:
        uid = image.session_uid
        if uid in _seen:
            found.add(uid)
            if image.name != _seen[uid]:
                moved[uid] = image
    for uid in set(_seen).difference(found):
        del _seen[uid]  # (deleted: an Undo that brings it back follows it again, `_adopt`)
    if not moved:
        return []
    results = {uid: [] for uid in moved}
    for image in images:
        if _sketch_of.get(image.session_uid) in moved and image.library is None and image.get(RESULT_TAG):
            results[_sketch_of[image.session_uid]].append(image)
    renamed = []
    for uid, sketch in moved.items():
        old = _seen[uid]
        _seen[uid] = sketch.name
        for image in results[uid]:
            if image.get(SOURCE_TAG) != sketch.name:
                image[SOURCE_TAG] = sketch.name
        if not sketch.get(RESULT_TAG):
            renamed.append((uid, old))
    return renamed


def _rename_steps(sketch_uid: int, old: str, scratch: np.ndarray | None = None):
    """Pieces (`runtime.later`): the results of the sketch `sketch_uid`, renamed from `old`, as NFTGan named them
    after it (a numbered one too), not renamed by the artist (NAMED_TAG), painted on (`keeps_paint`) nor unpacked
    to a file of its own (the artist's: its name and file left alone): each stage's takes its name after the
    sketch's name now, where no image has it. Images are found again by
    session_uid in each piece (the artist may rename, paint, delete or Undo between two ticks), and each rename's
    conditions are checked in the piece that makes it. The pixels `keeps_paint` reads (a result Blender marks
    changed, as after NFTGan's own write) are read in a piece of their own (one foreach_get: 5 ms at 2048^2, 19
    at 4096^2, into a buffer whose pages are touched in pieces first) and digested in ~4 MB pieces; a stroke
    painted in the few ticks between that look and the rename is renamed with the result (its paint kept)."""
    buf = None
    for stage, suffix in pipeline.RESULT_SUFFIX.items():
        was = result_name(old, suffix)
        mine = [
            (im.name != was, im.name, im.session_uid)  # (its own name first)
            for im in bpy.data.images
            if _sketch_of.get(im.session_uid) == sketch_uid and _named_as(im, stage, was)
        ]
        for *_, uid in sorted(mine):
            sketch, image = _image(sketch_uid), _image(uid)
            if sketch is None or sketch.get(RESULT_TAG):
                return
            if bpy.data.images.get(result_name(sketch.name, suffix)) is not None:
                break  # (taken: the results keep their names)
            if image is None or not _named_as(image, stage, was) or image.packed_file is None:
                continue  # (unpacked by the artist to a file of its own: theirs, its name and file left alone)
            looked = {}
            if not image.get(PAINTED_TAG) and (
                image.is_dirty or (image.packed_file is not None and repacked(image))
            ):
                w, h = image.size
                n = w * h * image.channels
                if scratch is not None and scratch.size >= n:
                    buf = scratch
                elif buf is None or buf is scratch or buf.size < n:
                    yield runtime.TICK  # (a smaller buffer before it freed in a piece of its own)
                    buf = None
                    buf = np.empty(n, np.float32)
                    # (its pages touched in pieces of 4 MB, not all at once by foreach_get)
                    for at in range(0, n, 1 << 20):
                        buf[at : at + (1 << 20) : 1024] = 0
                        yield
                yield runtime.TICK
                image = _image(uid)
                if image is None or image.size[0] * image.size[1] * image.channels != n:
                    continue
                image.pixels.foreach_get(buf[:n])
                mark = written(image)
                yield runtime.TICK
                looked[uid] = (yield from imageio.pixels_digest_steps(buf[:n], h)) != mark
            sketch, image = _image(sketch_uid), _image(uid)
            if sketch is None or sketch.get(RESULT_TAG):
                return
            name = result_name(sketch.name, suffix)
            if bpy.data.images.get(name) is not None:
                break
            if (
                image is None
                or not _named_as(image, stage, was)
                or image.packed_file is None
                or keeps_paint(image, scratch, looked)
            ):
                continue
            image.name = image[NAMED_TAG] = name
            # (where Image > Unpack writes it)
            image.filepath_raw = f"//{bpy.path.clean_name(image.name)}.png"
            break
    if buf is not None and buf is not scratch:
        yield runtime.TICK  # (its pages freed in a piece of its own: the generator's end)


def _named_as(image, stage: str, was: str) -> bool:
    """Whether `image` is a result of `stage` still named as NFTGan named it, `was` or a numbered `was`."""
    name = image.name
    return (
        image.get(RESULT_TAG) == stage
        and image.library is None
        and name == image.get(NAMED_TAG)
        and (name == was or (name.startswith(was + ".") and name[len(was) + 1 :].isdigit()))
    )


def _image(uid: int):
    """The image of this session_uid now, or None (deleted)."""
    return next((im for im in bpy.data.images if im.session_uid == uid), None)


def sketch_of(image):
    """The image the result `image` was made of (its sketch, a result restyled, the render), or None: by its
    session_uid where known (a renamed sketch is still its sketch; an image given the name of one deleted since
    is not), else by the name the result records (a result appended from another file; Stylize Render's and
    Generate's, known by name alone)."""
    uid = _sketch_of.get(image.session_uid)
    if uid is None:
        return bpy.data.images.get(str(image.get(SOURCE_TAG, ""))) if image.get(SOURCE_TAG) else None
    sketch = bpy.data.images.get(_seen.get(uid, ""))
    if sketch is not None and sketch.session_uid == uid:
        return sketch
    return next((im for im in bpy.data.images if im.session_uid == uid), None)


def _name_sketches() -> None:
    """Before the file is saved: each result records its sketch by the name it has now (SOURCE_TAG, what a
    reopened file knows it by), and the results of a sketch deleted since record none (else, reopened, the next
    image of its name, which New Sketch Canvas gives again, would adopt them). One pass over the file's images
    (49 µs for 100 images, 50 of them results; bpy 5.3.0), once per save. (Results are renamed by the tick
    alone, `follow_sketches`, not by a save.)"""
    if not _sketch_of:
        return
    by_uid = {image.session_uid: image for image in bpy.data.images}
    for uid, sketch_uid in _sketch_of.items():
        result, sketch = by_uid.get(uid), by_uid.get(sketch_uid)
        if result is None or result.library is not None or not result.get(RESULT_TAG):
            continue
        name = sketch.name if sketch is not None else ""  # (deleted: no image of this name is its sketch)
        if result.get(SOURCE_TAG) != name:
            result[SOURCE_TAG] = name


def made_of(image, source: str, source_uid) -> bool:
    """Whether the result `image` was made of the image `source_uid` (its session_uid), called `source`: by the
    sketch link where the result has one (not the results of a sketch deleted since, whose name a new image took:
    the next New Sketch Canvas), else by the name it records. `source_uid` None: the source is known by its name
    alone (the render, a generate model)."""
    link = _sketch_of.get(image.session_uid)
    if link is not None and source_uid is not None:
        return link == source_uid
    return image.get(SOURCE_TAG) == source


def _adopt() -> None:
    """The results Stylize made of a sketch that `_sketch_of` does not know (a file opened; an Undo step's
    results not seen before) are the results of the image their SOURCE_TAG names: as the file recorded them
    (their sketches' names as they were when it was saved). Each linked sketch is followed from the name it has
    now (`_seen`; one Undo brings a deleted sketch back). (64 µs for 100 images, 50 of them results.)"""
    names = {
        image.name: image.session_uid
        for image in bpy.data.images
        if image.library is None and image.type != "RENDER_RESULT"  # (Stylize Render's results: of no sketch)
    }
    for image in bpy.data.images:
        if (
            image.session_uid not in _sketch_of
            and image.get(RESULT_TAG) in pipeline.STAGES
            and image.library is None
            and names.get(str(image.get(SOURCE_TAG, "")), image.session_uid) != image.session_uid
        ):
            _sketch_of[image.session_uid] = names[image[SOURCE_TAG]]
    linked = set(_sketch_of.values()).difference(_seen)
    if linked:
        for name, uid in names.items():
            if uid in linked:
                _seen[uid] = name


class Marks(NamedTuple):
    """What `write_steps` records of a result so that one the user painted on is told apart (`keeps_paint`),
    made on the worker (`result_payload`)."""

    pixels: int  # the floats' `pixels_digest`
    png: str  # the PNG's `packed_mark`
    shown: int  # the `pixels_digest` of the 8-bit image Blender makes of the PNG (after a save: SHOWN_TAG)
    lines: bool = False  # NFTGan's result is itself a line drawing (`pipeline.line_drawing`; LINES_TAG)


def packed_mark(png: bytes) -> str:
    """A packed file's size and crc32, as a result records it (PACKED_TAG)."""
    return f"{len(png)} {zlib.crc32(png):08x}"


def result_payload(
    rgba: np.ndarray, to_scene: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[int, int], bytes, Marks]:
    """Worker: `imageio.result_payload(rgba)` (linear floats, (height, width), PNG bytes), the floats taken to
    the scene's linear space (`to_scene`, from `scene_matrices()` on the main thread; None: Rec.709), and their
    `Marks`, which `write_steps` records so that a result the user painted on is told apart."""
    lines = pipeline.line_drawing(rgba)  # (before `result_payload` converts rgba in place; about 1 ms)
    flat, size, png, shown = imageio.result_payload(rgba)
    if to_scene is not None:
        imageio.rec709_to_scene(flat, to_scene)
    return flat, size, png, Marks(pixels_digest(flat, size[0]), packed_mark(png), shown, lines)


def scratch_for(flats) -> np.ndarray | None:
    """Worker, for a re-Stylize: a float buffer as large as the largest of these results' floats, its memory
    touched, for `keeps_paint` to read a result's pixels into on the main thread: a new buffer's first touch of
    its pages (64 MB at 2048^2: foreach_get 9.8-10.0 ms, 4.6-5.1 into this buffer) is the worker's (6.6-7.0 ms),
    not the main thread's. Held until the job's last write. None up to 1024^2, where malloc reuses touched
    memory (no gain) and the buffer would only add to the peak."""
    largest = max((f.size for f in flats), default=0)
    if largest <= 1024 * 1024 * 4:
        return None
    scratch = np.empty(largest, np.float32)
    scratch[::1024] = 0  # one write a page (4 KB)
    return scratch


def _not_written_when_gone(pieces):
    """A write's pieces, a ReferenceError among them (an image held across a piece, deleted meanwhile: found by
    no session_uid check) turned into `NotWritten`, the sentence the caller reports."""

    @functools.wraps(pieces)
    def write(name: str, *args, **kwargs):
        try:
            return (yield from pieces(name, *args, **kwargs))
        except ReferenceError:
            raise NotWritten(
                f"{name!r} was not written: an image it needed was deleted while NFTGan wrote it"
            ) from None

    return write


@_not_written_when_gone
def write_steps(
    name: str,
    payload: list,
    stage: str,
    source: str,
    source_uid,
    models: list[dict],
    kept: list[str] | None = None,
    scratch: np.ndarray | None = None,
):
    """Write the result image `name` (a generator of main-thread pieces, `runtime.later`; it returns the image):
    the previous result of that name is updated in place when it has the same size (materials showing it follow,
    nothing is reallocated), else a new datablock takes over its users. A previous result the user painted on is
    left as it is, paint, name and users (`keeps_paint`): the new result takes a numbered name ("<name>.001",
    updated in place by later writes until it is painted on too); when that image is made, the painted result it
    takes over from is added to `kept` (for the status line; results kept by earlier writes were reported then).
    Results are float images: foreach_set of the linear floats `imageio.result_payload` made is a copy (about
    2 ms at 1024^2), where an 8-bit image converts every value on the main thread (15 ms). The worker's PNG bytes
    are packed as its file (what a saved .blend keeps, publishing sends). The image records its stage, its source
    image's name and the models that made it (provenance records, as JSON: `models_of()`).
    `payload`: the worker's `result_payload` as a list [floats, (height, width), PNG bytes, `Marks`]; the floats
    are let go once Blender holds them (payload[0] = None: their 256 MB at 4096^2 freed in a piece of their own).
    `scratch`: a buffer to read the previous result's pixels into (`scratch_for`).
    Blender writes an image whole (`foreach_set`, `pack` and `images.new` take no part of one), so each of those
    is a piece of its own (`runtime.TICK` before it), and the look at the previous result's pixels (foreach_get,
    then its digest in pieces of about 4 MB) comes first, in pieces: at 4096^2 no piece takes more than one of
    Blender's whole-image calls (bpy 5.3.0: foreach_set 18 ms, foreach_get 19, pack 8-27, images.new of a new
    size 65-90: its 256 MB zeroed and filled). A save meanwhile finishes the write first
    (`runtime.finish_steps`). Each piece finds the image again by session_uid; one deleted or undone away
    meanwhile ends the write with `NotWritten` (the sentence the caller reports), the previous result kept."""
    flat, (h, w), png, marks = payload
    if source_uid is not None:
        # (renamed since the last tick: its results are "House ..." now, before `name` is looked up)
        for uid, old in _renamed(source_uid):
            yield from _rename_steps(uid, old, scratch)
    looked = yield from _look_first(name, stage, source, source_uid, scratch)
    old, painted = bpy.data.images.get(name), []
    if old is None:  # (the sketch renamed since its last Stylize: a result not named after it yet)
        old = _of_renamed_sketch(name, stage, source_uid, scratch, looked)
    if old is not None and (
        not old.get(RESULT_TAG)
        or not made_of(old, source, source_uid)
        or old.session_uid == source_uid
        or old.library is not None
    ):
        # never touch a user's own image, the sketch, another image's result (two long names cut alike,
        # `result_name`) or a linked image (another .blend's, read-only here): the result has a numbered name,
        # and is updated there
        old = _numbered_result(name, stage, source, source_uid, painted, scratch, looked)
    elif old is not None and keeps_paint(old, scratch, looked):
        painted.append(old.name)
        old = _numbered_result(name, stage, source, source_uid, painted, scratch, looked)
    if old is None and painted and kept is not None:
        kept.append(painted[-1])  # the new result lands beside it
    old_uid, taken = (old.session_uid, old.name) if old is not None else (None, name)
    if old is not None and tuple(old.size) == (w, h) and old.is_float:
        image, old_uid = old, None
    else:
        yield runtime.TICK
        image = bpy.data.images.new(name, w, h, alpha=True, float_buffer=True)
        # its file's name (the packed file's, where Image > Unpack writes it) from the name it ends up with: a
        # numbered result's is its own, not the painted result's beside it
        final = taken if old is not None else image.name
        image.filepath_raw = f"//{bpy.path.clean_name(final)}.png"
        image.file_format = "PNG"
        image.use_fake_user = True  # a result is kept until the user deletes it
    # (each piece finds the image again by session_uid: the artist may delete it, or Undo a new one away, between
    # two ticks; the previous result is let go only in the piece that hands its users to a new one still there)
    uid = image.session_uid
    yield runtime.TICK
    image = _still(uid, taken)
    image.pixels.foreach_set(flat)
    # (with its pixels: a save between two pieces sees them as NFTGan's)
    _written[uid] = marks.pixels
    yield runtime.TICK
    del flat
    payload[0] = None  # (the floats freed here, their last reference gone)
    yield runtime.TICK
    image = _still(uid, taken)
    image.pack(data=png, data_len=len(png))
    image[PACKED_TAG], image[SHOWN_TAG] = marks.png, f"{marks.shown:016x}"
    image[LINES_TAG] = marks.lines
    _packed[uid] = (marks.pixels, png)  # (the bytes object the worker made: no copy)
    live = {im.session_uid for im in bpy.data.images}
    for gone in [u for u in _packed if u not in live]:  # (results deleted since)
        del _packed[gone]
    image[RESULT_TAG], image[SOURCE_TAG] = stage, source
    if source_uid is not None:
        _sketch_of[uid] = source_uid
        _seen[source_uid] = source
    image[MODELS_TAG] = provenance.models_json(models)
    if old_uid is not None:
        yield runtime.TICK
        image, old = _still(uid, taken), _image(old_uid)
        if old is not None:  # (else deleted by the artist meanwhile: the new result takes its name alone)
            old.user_remap(image)  # materials showing the previous result now show the new one
            _packed.pop(old_uid, None)
            taken = old.name
            bpy.data.images.remove(old)  # (its pixels freed: 15-25 ms at 4096^2)
        if bpy.data.images.get(taken) is None:
            image.name = taken
    image[NAMED_TAG] = image.name
    return image


class NotWritten(Exception):
    """A result `write_steps` could not write, and why (a sentence for the status line)."""


def _still(uid: int, name: str):
    """The image being written (its session_uid), or NotWritten: deleted, or undone away, since the last piece."""
    image = _image(uid)
    if image is None:
        raise NotWritten(f"{name!r} was not written: it was deleted or undone while NFTGan wrote it")
    return image


def _look_first(name: str, stage: str, source: str, source_uid, scratch: np.ndarray | None):
    """Pieces: the results this write may go into whose pixels `keeps_paint` would read (this source's, of this
    stage or named `name`: marked changed, as Blender marks a result after NFTGan's own write too, usually the
    one result of that name; or packed again by Image > Save; or unpacked to a file and marked changed) have
    them read (one foreach_get, a piece of its own: 19 ms at 4096^2, into `scratch` or a buffer whose pages are
    touched in pieces first) and their digest made in pieces. Returns session_uid -> whether the pixels are not
    what NFTGan wrote, which `keeps_paint` takes (`looked=`) instead of reading them again. A stroke painted in
    the few ticks between this look and the write is written over (as one painted during a write)."""

    def due(image) -> bool:
        number = image.name[len(name) + 1 :] if image.name.startswith(name + ".") else ""
        if not (
            (image.name == name and image.get(RESULT_TAG))
            or (number.isdigit() and image.get(RESULT_TAG) == stage)
            or (image.get(RESULT_TAG) == stage and _sketch_of.get(image.session_uid, -1) == source_uid)
        ) or (
            image.get(PAINTED_TAG)
            or not (made_of(image, source, source_uid) or _sketch_of.get(image.session_uid, -1) == source_uid)
            or image.session_uid == source_uid
            or image.library is not None
        ):
            return False
        if image.packed_file is None:  # (unpacked to a file: read when marked changed, `keeps_paint`)
            return image.is_dirty
        return image.is_dirty or repacked(image)

    looked, held = {}, []  # held: a buffer of this look's own (no `scratch`, or one too small)
    for uid in [image.session_uid for image in bpy.data.images if due(image)]:
        differs = yield from _look_steps(uid, scratch, held, due)
        if differs is not None:
            looked[uid] = differs
    if held:
        yield runtime.TICK
        held.clear()  # (its pages freed in a piece of its own)
    return looked


def _look_steps(uid: int, scratch: np.ndarray | None, held: list, due):
    """Pieces: whether the pixels of the image `uid` are not what NFTGan wrote (None: deleted meanwhile, no
    longer `due(image)`, or of another size). Read into `scratch` when large enough, else into `held[0]`, a
    buffer made here when missing or too small (a smaller one freed, and the new one's pages touched in pieces
    of 4 MB, not all at once by foreach_get); foreach_get in a piece of its own, the digest in ~4 MB pieces."""
    image = _image(uid)
    if image is None:
        return None
    w, h = image.size
    n = w * h * image.channels
    if not n:
        return None
    if scratch is not None and scratch.size >= n:
        buf = scratch
    else:
        if not held or held[0].size < n:
            yield runtime.TICK
            held.clear()
            held.append(np.empty(n, np.float32))
            for at in range(0, n, 1 << 20):
                held[0][at : at + (1 << 20) : 1024] = 0
                yield
        buf = held[0]
    yield runtime.TICK
    image = _image(uid)
    if image is None or not due(image) or image.size[0] * image.size[1] * image.channels != n:
        return None
    image.pixels.foreach_get(buf[:n])
    mark = written(image)
    yield runtime.TICK
    return (yield from imageio.pixels_digest_steps(buf[:n], h)) != mark


def _of_renamed_sketch(name: str, stage: str, source_uid, scratch=None, looked=None):
    """The result of this stage an earlier Stylize wrote for the sketch `source_uid` under the sketch's former
    name ("Sketch stylized", the sketch called "House" since), still named as NFTGan named it and not painted
    on: it takes the new name `name` and is updated in place, so a material showing it follows (it kept the
    old picture, and a second "House stylized" came beside it). `follow_sketches` renames a sketch's own
    results soon after the rename; this finds those it leaves (a restyled result's, named after its sketch).
    A result the artist renamed, painted on or unpacked to a file of its own is theirs: left as it is (an
    unpacked one renamed would be pointed at a file that does not exist). None when there is none. (Main thread:
    one pass over the file's images, when no image has the result's name.)"""
    if source_uid is None:
        return None
    for image in bpy.data.images:
        if (
            image.get(RESULT_TAG) == stage
            and _sketch_of.get(image.session_uid) == source_uid
            and image.name != name
            and image.name == image.get(NAMED_TAG)
            and image.library is None
            and image.packed_file is not None  # (unpacked to a file of its own: the artist's, left alone)
            and not keeps_paint(image, scratch, looked)
        ):
            image.name = name
            # (where Image > Unpack writes it)
            image.filepath_raw = f"//{bpy.path.clean_name(image.name)}.png"
            return image
    return None


def _numbered_result(
    name: str, stage: str, source: str, source_uid, painted: list[str], scratch=None, looked=None
):
    """The result of this stage and source that an earlier Stylize wrote as "<name>.NNN" because `name` was
    taken by an image of the user's or by a result painted on, and that is not painted on itself (None when
    there is none). Those painted on are added to `painted`."""
    for image in bpy.data.images:
        number = image.name[len(name) + 1 :]
        if (
            image.name.startswith(name + ".")
            and number.isdigit()
            and image.get(RESULT_TAG) == stage
            and made_of(image, source, source_uid)
            and image.session_uid != source_uid
            and image.library is None
        ):
            if not keeps_paint(image, scratch, looked):
                return image
            painted.append(image.name)
    return None


def keeps_paint(image, scratch: np.ndarray | None = None, looked: dict[int, bool] | None = None) -> bool:
    """Whether a result is the user's painted image from now on, never to be written into: marked so (saved
    or kept with paint on it), or unpacked by the user to a file of its own and saved there since (`saved_over`),
    or its pixels are not what NFTGan wrote (`painted_pixels`, read into `scratch` when given); and then marked.
    The pixels are looked at when Blender marks the image changed (painted on, or after NFTGan's own write) and
    when its packed file is not the PNG NFTGan packed (`repacked`: Image > Save of a packed image packs its
    pixels again, paint or not, and unmarks it). Free for a result as NFTGan packed it and not marked changed
    (as loaded from a .blend). `looked`: session_uid -> whether the pixels differ, as read in pieces before
    (`_look_first`'s, `_rename_steps`'): taken instead of reading them again."""
    if image.get(PAINTED_TAG):
        return True
    looked = {} if looked is None else looked
    if image.packed_file is None:  # unpacked by the user to a file of its own
        changed = saved_over(image) or (
            image.is_dirty
            and (
                looked[image.session_uid]
                if image.session_uid in looked
                else painted_pixels(image, scratch) is not None
            )
        )
    elif image.session_uid in looked:  # (read by `_look_first` for this write, or `_rename_steps`)
        changed = looked[image.session_uid]
    else:
        changed = (image.is_dirty or repacked(image)) and painted_pixels(image, scratch) is not None
    if changed:
        image[PAINTED_TAG] = True
    return changed


def saved_over(image) -> bool:
    """Whether a result the user unpacked to a file of its own (Image > Unpack writes the packed PNG as it is)
    was saved to that file since: the file is not the PNG NFTGan packed, by the size and crc32 it recorded
    (PACKED_TAG). Blender's save of a float result to a PNG converts its pixels to the file's sRGB and back
    (up to 2.4e-5 off), so the file, not the pixels, tells. A stat, and when the sizes match a read and crc32
    (1.2-1.6 ms for a 3.2 MB file, 4.4-9.2 ms for 12.6 MB). A result without the record, or whose file is
    missing: False."""
    mark = image.get(PACKED_TAG)
    if not mark:
        return False
    path = bpy.path.abspath(image.filepath)
    try:
        if os.path.getsize(path) != int(mark.split()[0]):
            return True
        with open(path, "rb") as fh:
            return packed_mark(fh.read()) != mark
    except OSError:
        return False


def repacked(image) -> bool:
    """Whether a result's packed file is no longer the PNG NFTGan packed into it (Blender's Image > Save of a
    packed image packs its pixels as they are, paint and all), by the size and crc32 NFTGan recorded
    (PACKED_TAG). A result without the record (written by an older NFTGan): False.
    Its size alone tells a repacked result (an OpenEXR for a float result, Blender's own PNG for an 8-bit
    one); the crc32, when the sizes match (a result as NFTGan wrote or saved it), costs reading the packed
    bytes: 0.07 ms at 1024^2, 0.22 at 2048^2 (the default styles' PNGs, bpy 5.3)."""
    mark = image.get(PACKED_TAG)
    if not mark:
        return False
    packed = image.packed_file
    return mark.split()[0] != str(packed.size) or mark != packed_mark(packed.data)


def kept_note(kept: str, new: str) -> str:
    """The status line's sentence for a result kept because it was painted on, or saved to a file of its own
    (`saved_over`: painted or not)."""
    image = bpy.data.images.get(kept)
    why = "had paint on it"
    if image is not None and image.packed_file is None and saved_over(image):
        why = f"was saved to its own file ({os.path.basename(bpy.path.abspath(image.filepath))})"
    return f"{kept!r} {why} and was kept; the new result is {new!r}."


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
    to_rec709: np.ndarray | None = None  # scene linear -> Rec.709 (`scene_matrices()`), for linear pixels
    packed: tuple[int, bytes] | None = None  # a result's (digest of the floats NFTGan wrote, its PNG of them)

    def file_bytes(self) -> tuple[bytes, str]:
        """(bytes, extension); encodes a snapshot as PNG (worker thread: no bpy here), except a result's
        pixels that are still those NFTGan wrote (`packed`, by their `pixels_digest`): its PNG of them, as it
        is (at 4096^2 a digest of about 30 ms instead of an encode of 4-5 s)."""
        if self.data is not None:
            return self.data, self.ext
        if (
            self.packed is not None
            and pixels_digest(self.pixels.reshape(-1), len(self.pixels)) == self.packed[0]
        ):
            return self.packed[1], ".png"
        pixels = (
            imageio.float_pixels_to_srgb(self.pixels, to_rec709=self.to_rec709)
            if self.linear
            else self.pixels
        )
        return imageio.encode_png(pixels), ".png"


def image_data(image) -> ImageData:
    """Main thread: the image's own file bytes when they are at hand (packed PNG / JPEG, an unchanged file
    on disk, the saved Render Result), else a pixel snapshot (generated or painted-on images). A result NFTGan
    wrote is marked changed by Blender, painted on or not: its snapshot goes with the PNG NFTGan packed, which
    the worker sends when the pixels are still NFTGan's (`ImageData.file_bytes`)."""
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
    return ImageData(
        pixels=pixels, linear=linear, to_rec709=scene_matrices()[1], packed=_packed.get(image.session_uid)
    )


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
        try:
            bpy.ops.render.render()
        except RuntimeError as exc:  # e.g. no camera: Blender's words, not the operator's traceback
            why = str(exc).strip().splitlines()[0].removeprefix("Error: ").rstrip(".")
            raise UserError(
                f"The scene could not be rendered: {why}. Fix that (render with F12 to see), then try again."
            ) from None
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


def painted_pixels(image, scratch: np.ndarray | None = None) -> np.ndarray | None:
    """A result's pixels (H, W, C) when they differ from what NFTGan last wrote into it (`written`: the user
    painted on it, or a script changed it), else None: one foreach_get (into `scratch` when it is large enough:
    `scratch_for`) and `pixels_digest`: in bpy 5.3, 2.9-3.5 ms at 1024^2, 12.2-13.7 ms at 2048^2, 0.1 ms at
    256^2. The pixels returned are `scratch`'s when given."""
    w, h = image.size
    n = w * h * image.channels
    buf = scratch[:n] if scratch is not None and scratch.size >= n else np.empty(n, np.float32)
    image.pixels.foreach_get(buf)
    return None if pixels_digest(buf, h) == written(image) else buf.reshape(h, w, image.channels)


def written(image) -> int | None:
    """The `pixels_digest` of the pixels NFTGan last wrote into a result as the result holds them: recorded in
    this session (its float write, or its pixels as `_on_save_pre` packed them), else, for an 8-bit result
    (after a save, or reopened), that of its PNG as Blender reads it (SHOWN_TAG). None when not known (a float
    result from an earlier session, one written by an older NFTGan)."""
    if image.session_uid in _written:
        return _written[image.session_uid]
    shown = None if image.is_float else image.get(SHOWN_TAG)
    return int(shown, 16) if shown else None


@persistent
def _on_save_pre(*_args):
    """A canvas New Sketch Canvas made (a generated image, which a .blend keeps only as its size and colour) is
    packed when drawn on, so the drawing is in the saved file; a canvas the artist saved to a file of its own
    is left to Blender, as any image with a file.
    Results are float images with their packed PNG held in memory; make them file-backed so the .blend
    keeps them (they become the 8-bit sRGB images their PNGs hold). A result painted on, before or after an
    earlier save, is packed again first, as the PNG of its pixels as shown: Blender saves a packed image's
    packed bytes as they are, so the paint would be lost in the .blend (and switching a painted result to its
    file would reload NFTGan's PNG at once). `image.pack()` is not used: it packs a float buffer as OpenEXR.
    A result the artist unpacked to a file (Image > Unpack) and did not save there since is still a generated
    image, which the .blend would keep blank: it shows its file from now on, or, painted on since (or its file
    gone), is packed again as the PNG of its pixels; its file is left as it is.
    A result being written over several ticks (`write_steps`) is written whole first."""
    runtime.finish_steps()
    for image in bpy.data.images:
        if not image.get(RESULT_TAG) or image.source not in ("GENERATED", "FILE"):
            continue
        unpacked = image.packed_file is None
        if unpacked and image.source == "FILE":
            continue  # a file of its own, saved there: left to Blender, as any image with a file
        # (not marked changed: its packed PNG, or its file, holds what it shows)
        painted = painted_pixels(image) if image.is_dirty else None
        if painted is None and unpacked and not os.path.isfile(bpy.path.abspath(image.filepath)):
            painted = snapshot(image)[0]
        if painted is not None:
            to_rec709 = scene_matrices()[1]
            shown = (
                imageio.float_pixels_to_srgb(painted, to_rec709=to_rec709) if is_linear(image) else painted
            )
            png = imageio.encode_png(shown)
            image.pack(data=png, data_len=len(png))
            # packed as it is now: a later save repacks it only when painted on again
            _written[image.session_uid] = pixels_digest(painted.ravel(), painted.shape[0])
            image[PAINTED_TAG] = True  # its paint is in the file: the next Stylize keeps it (`keeps_paint`)
        if image.source == "GENERATED":
            show_packed_png(image)  # 8-bit sRGB pixels from now on (its packed PNG's, or its file's)
    for image in bpy.data.images:  # a canvas drawn on since it was made or last packed: kept in the .blend
        if (
            image.get(CANVAS_TAG)
            and image.is_dirty
            and (image.source == "GENERATED" or image.packed_file is not None)
        ):
            image.pack()  # an 8-bit canvas packs as the PNG of its pixels (and is file-backed from then on)
    _name_sketches()  # the file records each result's sketch by the name it has now


@persistent
def _on_undo_redo(*_args):
    """An Undo or Redo that reads a result back from its undo step gives it without its pixels (they are not
    part of the step): a generated image would show its blank generated colour. Such a result shows its packed
    PNG instead, the result as NFTGan wrote it (as after a save). Results whose pixels Blender kept (an Undo
    that leaves them) are left as they are: one `has_data` look per result. Results the step brought back are
    known by the sketch their SOURCE_TAG names (`_adopt`)."""
    _adopt()
    for image in bpy.data.images:
        if (
            image.get(RESULT_TAG)
            and image.source == "GENERATED"
            and image.packed_file is not None
            and not image.has_data
        ):
            show_packed_png(image)


def show_packed_png(image) -> None:
    """A result becomes the 8-bit image of its packed PNG (file-backed: Blender reloads it) in the 8-bit
    colour space, sRGB, which the PNG's bytes are in: it kept the float image's Linear Rec.709, and Blender
    showed and rendered the bytes as linear, washed out (up to 73 levels in 255 brighter)."""
    image.source = "FILE"
    image.colorspace_settings.name = byte_space()
    _written.pop(image.session_uid, None)
    _packed.pop(image.session_uid, None)  # (not marked changed now: Publish takes its packed bytes)


@persistent
def _on_load_post(*_args):
    """Results of a file saved before `show_packed_png` set their colour space: shown as sRGB, as written.
    Only a packed PNG (NFTGan's, or Blender's of an 8-bit result): a float result the artist saved with
    Image > Save packs an OpenEXR of its linear pixels, which stays linear. (No pixels are read here.)"""
    _packed.clear()  # (the PNGs of the results of the file before)
    _sketch_of.clear()
    _seen.clear()
    _adopt()
    for image in bpy.data.images:
        if (
            image.get(RESULT_TAG)
            and image.library is None
            and image.source == "FILE"
            and image.packed_file is not None
            and image.colorspace_settings.name == _default_space(True)  # (not one the artist chose)
            and bytes(image.packed_file.data[:4]) == b"\x89PNG"  # (file_format would load the image)
        ):
            image.colorspace_settings.name = byte_space()


HANDLERS = (
    ("save_pre", _on_save_pre),
    ("undo_post", _on_undo_redo),
    ("redo_post", _on_undo_redo),
    ("load_post", _on_load_post),
)


def register():
    for name, fn in HANDLERS:
        getattr(bpy.app.handlers, name).append(fn)
    runtime.on_tick(follow_sketches)


def unregister():
    runtime.remove_tick(follow_sketches)
    for name, fn in HANDLERS:
        if fn in getattr(bpy.app.handlers, name):
            getattr(bpy.app.handlers, name).remove(fn)
