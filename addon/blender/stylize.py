"""Stylize: snapshot the sketch on the main thread, run the pipeline on the worker, write results.

Main thread, before: one `foreach_get` of the sketch's pixels (images.snapshot, the only bpy work).
Worker: core.pipeline (colorize -> stylize -> optional upscale) and PNG encoding of the results.
Main thread, after (`apply_results`, run by runtime.drain()): new image datablocks
"<sketch> colorized" / "<sketch> stylized" / "<sketch> upscaled" filled with `foreach_set` and packed
from the worker's PNG bytes, one after another in the pieces of `images.write_steps`, spread over timer ticks
(a result painted on is kept, and the new one numbered). The sketch itself is only ever read. A picture in colour already (the render, an image
NFTGan made: `in_colour`) is restyled without Colorize, its results named after its sketch (`result_stem`) and
recording the models that made it before their own (`made_by`). An image NFTGan made that the worker finds to be a
line drawing now (cleared and redrawn: `pipeline.line_drawing`, about 1 ms of the worker's) is stylized as a sketch.
"""

from __future__ import annotations

import os
import time
import zlib
from typing import NamedTuple

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, PointerProperty, StringProperty
from bpy.types import Operator, PropertyGroup

from ..core import imageio, jobs, pipeline
from ..core import styles as core_styles
from ..core.errors import UserError
from ..core.publish import provenance
from . import images, runtime, styles
from .jobslot import JobSlot, start_from

CANVAS_SIZES = [(s, f"{s} px", f"A {s}x{s} white canvas") for s in ("256", "512", "1024", "2048")]
LIVE_INTERVAL = 0.04  # seconds between looks at the sketch while live preview is on (at the least)
LIVE_SHARE = 0.05  # ... and looking (one foreach_get) takes at most this share of the main thread

SLOT = JobSlot("stylize", latest_wins=True)  # one job per sketch, keyed "stylize:<sketch>"
# what Stylize Render's results record as their source: not "Render", the name their results share with a
# sketch named "Render" (whose results they then wrote over, and the other way round)
RENDER_SOURCE = "Render Result"
# on each result: when the Stylize that wrote it was started (Apply to Material shows the newest)
WRITTEN_AT = "nftgan_written_at"
RENDER = "the render"  # Stylize Render's picture, in colour already (`in_colour`)


# ----------------------------------------------------------------------------------------------- properties


def _live_toggled(self, _context):
    _live.update(seen=None, next=0.0)


def _strength(kind: str) -> dict:
    return dict(
        name="Strength",
        default=1.0,
        min=0.0,
        max=1.0,
        subtype="FACTOR",
        description=f"How much of the {kind} result to keep: 1 the model's output, 0 the stage's input unchanged",
    )


def _keep_lines(kind: str) -> dict:
    return dict(
        name="Keep My Lines",
        default=kind in pipeline.KEEP_LINES,
        description=f"Lay your sketch's dark strokes back over the {kind} result (and its upscale), as sharp "
        "as drawn at the result's size; coloured hint strokes are left out",
    )


class NFTGanSceneProps(PropertyGroup):
    sketch: PointerProperty(type=bpy.types.Image, name="Sketch", description="The image NFTGan stylizes")
    colorize_id: StringProperty(description="Chosen colorize style (file name without .onnx; NONE skips)")
    stylize_id: StringProperty(description="Chosen stylize style (file name without .onnx; NONE skips)")
    upscale_id: StringProperty(
        description="Chosen upscale model (file name without .onnx; empty or NONE: off)"
    )
    colorize: styles.style_enum("colorize")
    stylize: styles.style_enum("stylize")
    upscale: styles.style_enum("upscale")
    live_preview: BoolProperty(
        name="Live Preview",
        update=_live_toggled,
        description="Stylize again whenever the sketch changes (the newest version wins)",
    )
    canvas_size: EnumProperty(
        name="Size", items=CANVAS_SIZES, default="1024", description="The size of the next New Sketch Canvas"
    )
    # per stage: strength (input/output mix) and "keep my lines" (the sketch's dark strokes laid back over
    # the result; upscale follows the stage it enlarges): the defaults are the core pipeline's
    colorize_strength: FloatProperty(**_strength("colorize"))
    stylize_strength: FloatProperty(**_strength("stylize"))
    upscale_strength: FloatProperty(**_strength("upscale"))
    colorize_keep_lines: BoolProperty(**_keep_lines("colorize"))
    stylize_keep_lines: BoolProperty(**_keep_lines("stylize"))
    colorize_fill_hints: BoolProperty(
        name="Fill My Colours",
        default=True,
        description="Fill each shape you dabbed a colour into, up to its lines, in that colour (the model's "
        "shading kept), give each shape without a dab one colour of the model's own instead of its blotches, "
        "and keep the open paper around the drawing white; off shows what the colorize model makes of the "
        "sketch by itself",
    )


# ----------------------------------------------------------------------------------------------- the job


def in_colour(image) -> str:
    """What an image is when it is in colour already, as the messages name it (an image NFTGan made: a
    result or a generated sample), else "" (a sketch). Colorize reads a picture as a line sketch and paints
    its own colours over it: such an image (and the render, `RENDER`) is restyled by the Stylize style, and
    enlarged by the Upscale style, without it, unless the worker finds it a line drawing now (`take`)."""
    return f"'{image.name}' (an NFTGan result)" if image.get(images.RESULT_TAG) else ""


def result_stem(name: str) -> str:
    """What the results of the result `name` are named after: its sketch's name, the name less its stage's
    suffix and number ("Sketch stylized.001" -> "Sketch"), so that restyled it gives "Sketch stylized"
    (numbered where that name is taken), not "Sketch stylized stylized"; a result renamed by the artist keeps
    its name."""
    stem, dot, number = name.rpartition(".")
    bare = stem if dot and number.isdigit() else name
    for suffix in pipeline.RESULT_SUFFIX.values():
        if bare.endswith(f" {suffix}") and len(bare) > len(suffix) + 1:
            return bare[: -len(suffix) - 1]
    return name


# `chosen_models`' refusal when a picture in colour already has no Stylize style to run because none is installed
NO_STYLIZE = (
    "no Stylize style is installed: add a folder of NFTGan .onnx models with one in the add-on preferences "
    "(Edit > Preferences > Add-ons > NFTGan > Model folders), or train one: `nftgan train cyclegan ...` then "
    "`nftgan export CKPT -o style.onnx`"
)


def chosen_models(scene, coloured: str = "") -> dict:
    """{stage: ModelInfo} of the scene's chosen styles. `coloured`: what the picture is when it is in colour
    already (`in_colour`, `RENDER`): Colorize is left out and a Stylize style or Upscale is needed."""
    props, found = scene.nftgan, styles.styles()
    models = {}
    for kind in pipeline.STAGES:
        wanted = styles.wanted(props, kind)
        if wanted == "NONE" or (coloured and kind == "colorize"):
            continue
        first = "" if wanted else getattr(core_styles.find(found, kind, None), "id", "")
        try:
            style = styles.chosen(kind, wanted)
        except UserError:
            if first:  # an untouched picker's style (the first) is the choice: kept, not the next one run
                setattr(props, f"{kind}_id", first)
            raise
        if style is not None:
            models[kind] = style.model(styles.precision())
    if coloured and not models.keys() & {"stylize", "upscale"}:  # (Colorize would paint over its colours)
        upscale = core_styles.of_kind(found, "upscale")
        if core_styles.of_kind(found, "stylize"):
            also = " or turn on Upscale" if upscale else ""
            what = f"nothing else is chosen: pick a Stylize style{also} (in the NFTGan panel)."
        else:  # (the picker has none to pick)
            what = NO_STYLIZE + (", or turn on Upscale in the NFTGan panel." if upscale else ".")
        raise UserError(
            f"{coloured[0].upper()}{coloured[1:]} is in colour already, so Colorize (which reads a picture as a "
            f"line sketch) is skipped, and {what}"
        )
    if not coloured and not models.keys() & {"colorize", "stylize"}:
        if core_styles.of_kind(found, "colorize") or core_styles.of_kind(found, "stylize"):
            raise UserError("Both Colorize and Stylize are set to None: choose a style for at least one.")
        reasons = "".join(f" Skipped {s.error}" for s in found if not s.ok)
        raise UserError(core_styles.HOW_TO_GET_STYLES + reasons)
    return models


class Taken(NamedTuple):
    """What `take` hands `start`: the snapshot, the models, and what the picture is when NFTGan made it."""

    pixels: np.ndarray
    linear: bool
    models: dict  # {stage: ModelInfo} to run (a picture in colour already: without Colorize)
    coloured: str  # `in_colour(image)`
    drawn: dict | None = None  # an image NFTGan made: the models if it is a line drawing now (with Colorize)
    refused: str = ""  # ... and why there is nothing to run if it is not (`models` empty)


def chosen_for(scene, coloured: str) -> tuple[dict, dict | None, str]:
    """(models, drawn, refused) for an image (`Taken`). An image NFTGan made (`in_colour`) with Colorize
    chosen may have been cleared and redrawn as a line sketch since: the worker looks (`pipeline.line_drawing`)
    and runs `drawn`, the sketch's models, if it is one, else `models` (no Colorize); with nothing but Colorize
    chosen, `models` is empty and `refused` says why, which the worker raises for a picture in colour."""
    if not coloured or coloured == RENDER or styles.wanted(scene.nftgan, "colorize") == "NONE":
        return chosen_models(scene, coloured), None, ""
    try:
        drawn = chosen_models(scene)
    except UserError:  # (e.g. its Colorize style not installed: the picture in colour needs none)
        drawn = None
    if drawn is not None and "colorize" not in drawn:
        drawn = None
    try:
        return chosen_models(scene, coloured), drawn, ""
    except UserError as exc:
        if drawn is None:
            raise
        return {}, drawn, str(exc)


def take(context, image) -> Taken:
    """The sketch's snapshot for a stylize job and the models to run (`Taken`), after the job's memory need (the
    snapshot and the pipeline's arrays, from the image's size, with the most models it may run) has been
    checked against the limit, so a sketch too large to stylize is refused before its pixels are copied."""
    images.check_image(image)  # before the job's checks, which do not know the image's name
    coloured = in_colour(image)
    models, drawn, refused = chosen_for(context.scene, coloured)
    w, h = image.size
    pipeline.check_job(h, w, drawn or models, extra=images.snapshot_bytes(image))
    return Taken(*images.snapshot(image), models, coloured, drawn, refused)


def stage_options(scene) -> dict:
    """The pipeline's per-stage options from the panel: {"strength": {stage: s}, "lines": (stages...),
    "fill_hints": bool}."""
    props = scene.nftgan
    return {
        "strength": {k: getattr(props, f"{k}_strength") for k in pipeline.STAGES},
        "lines": tuple(k for k in pipeline.STAGES if getattr(props, f"{k}_keep_lines", False)),
        "fill_hints": props.colorize_fill_hints,
    }


# The Image Editor's Image > Transform steps that turn a picture stored with EXIF orientation N upright (as
# viewers show it: pillow's exif_transpose)
UPRIGHT = {
    2: "Flip Horizontally",
    3: "Rotate 180°",
    4: "Flip Vertically",
    5: "Rotate 90° Clockwise, then Flip Horizontally",
    6: "Rotate 90° Clockwise",
    7: "Rotate 90° Counter-Clockwise, then Flip Horizontally",
    8: "Rotate 90° Counter-Clockwise",
}


def start(
    context,
    pixels: np.ndarray,
    linear: bool,
    name: str,
    uid: int | None,
    live: bool = False,
    models: dict | None = None,
    path: str = "",
    coloured: str = "",
    drawn: dict | None = None,
    refused: str = "",
) -> jobs.Job:
    """Submit a stylize job for a pixel snapshot. Latest wins per sketch. `path`: the sketch's file
    (`images.file_path`), whose EXIF orientation the worker reads for the report's note (`UPRIGHT`);
    `coloured`: what the picture is when it is in colour already (`in_colour`, `RENDER`): no Colorize, and
    a result's results are named after its sketch (`result_stem`), recording the models that made it first;
    `drawn`, `refused`: an image NFTGan made that may be a line drawing now (`Taken`): the worker looks, and a
    line drawing is stylized as a sketch with `drawn`."""
    if models is None:
        models = chosen_models(context.scene, coloured)
    options = stage_options(context.scene)
    opts = styles.settings(context)
    to_scene, to_rec709 = images.scene_matrices()  # the file's linear space, when not Rec.709
    meta = {
        "name": name,
        "path": path,
        "uid": uid,
        "live": live,
        "t0": time.perf_counter(),
        "started": time.time(),  # saved with each result: which Stylize is the newest, in any later session
        "coloured": coloured,
        # (the report says Colorize was left out, unless it was set to None)
        "skip": styles.wanted(context.scene.nftgan, "colorize") != "NONE",
        # the models that made the picture in colour (an NFTGan result's), which its results record first
        "chain": images.models_of(bpy.data.images.get(name, {})) if coloured and uid is not None else [],
        "refused": refused,
    }

    snap = [pixels]  # the job's only reference: the pipeline frees the snapshot once it is in model space
    # a re-Stylize: `images.keeps_paint` reads the earlier results' pixels on the main thread (`scratch_for`)
    bases = {result_stem(name) if coloured and uid is not None else name, name}
    suffixes = pipeline.RESULT_SUFFIX.values()
    again = any(bpy.data.images.get(images.result_name(b, s)) for b in bases for s in suffixes)
    paths = tuple(m.path for m in {**models, **(drawn or {})}.values())

    def work(job):
        if live:  # the sketch may not have changed since the last preview: the worker checks, not Blender
            digest = (uid, name, zlib.crc32(snap[0]), paths, repr(options))
            if digest == _live["seen"]:
                return None
            _live["seen"] = digest
        try:
            return stylized(job)
        except BaseException:
            if live:
                _live["seen"] = None  # not previewed after all: the next look runs it again
            raise

    def stylized(job):
        # the sketch as this run read it, before the conversion below writes over the snapshot (`SKETCH_TAG`)
        sketch = f"{images.pixels_digest(snap[0].reshape(-1), len(snap[0])):x}" if uid is not None else ""
        if linear:  # a float buffer: scene linear, alpha premultiplied; the models take sRGB
            imageio.float_pixels_to_srgb(snap[0], out=snap[0], to_rec709=to_rec709)  # the snapshot is ours
        # an image NFTGan made, cleared and redrawn as a line sketch: stylized as a sketch (Colorize runs)
        redrawn = drawn is not None and pipeline.line_drawing(snap[0])
        run = drawn if redrawn else models
        if not run:
            raise UserError(refused)
        # (for the report's note: a sketch's, a picture in colour is not drawn)
        blank = not live and uid is not None and (redrawn or not coloured) and imageio.nothing_drawn(snap[0])
        results = pipeline.run(
            snap.pop(), models=run, job=job, threads=opts["threads"], provider=opts["provider"], **options
        )
        out = {}
        for stage, rgba in results.items():
            job.check()
            out[stage] = images.result_payload(rgba, to_scene)
        # the provenance every result records (the model files' hashes are read once, then cached)
        turned = imageio.file_orientation(path) if path else 1
        scratch = images.scratch_for(flat for flat, *_ in out.values()) if again else None
        return (
            [provenance.model_record(k, m, options["strength"].get(k, 1.0)) for k, m in run.items()],
            out,
            turned,
            blank,
            scratch,
            sketch,
            redrawn,
        )

    key, label = f"stylize:{uid if uid is not None else name}", f"Stylize {name}"
    if live:  # not the panel's slot (no progress row flickering for each look); the running preview ends
        return runtime.submit(
            work,
            key=key,
            label=label,
            latest_wins=True,
            keep_running=True,
            on_done=lambda job: apply_results(job, meta),
        )
    return SLOT.submit(work, key=key, label=label, on_done=lambda job: apply_results(job, meta))


def apply_results(job: jobs.Job, meta: dict) -> list[str]:
    """Main thread: write the finished job's images, one after another in later drain steps (each in the pieces
    of `images.write_steps`), then report in a step of its own. Returns the list of names written, which fills
    up as the steps run."""
    SLOT.release(job)  # do not keep its pixels alive
    if meta["live"] and meta["refused"] and job.error == meta["refused"]:  # (a picture in colour, nothing to
        # run on it): Live Preview turns off, as when `take` refuses
        scene = getattr(bpy.context, "scene", None)
        if scene is not None:
            scene.nftgan.live_preview = False
    ok = SLOT.ended(
        job,
        failed=f"Stylize of '{meta['name']}' failed",
        cancelled="" if meta["live"] else f"Stylize of '{meta['name']}' cancelled",
    )
    if not ok or job.result is None:  # failed, cancelled, or a live look at an unchanged sketch
        return []
    sketch = None
    if meta["uid"] is not None:
        sketch = next((im for im in bpy.data.images if im.session_uid == meta["uid"]), None)
    name = sketch.name if sketch is not None else meta["name"]
    source = name if meta["uid"] is not None else RENDER_SOURCE
    records, results, turned, blank, scratch, sketch_digest, redrawn = job.result
    coloured = "" if redrawn else meta["coloured"]  # (redrawn: an NFTGan image that is a line drawing now)
    chain = meta["chain"] if coloured else []
    base = result_stem(name) if coloured and meta["uid"] is not None else name
    # (payloads as lists: `write_steps` lets go of their floats; spare: freed after the last write)
    items, spare = [(stage, list(payload)) for stage, payload in results.items()], [scratch]
    del results
    job.result = None
    written, sizes, kept = [], [], []  # kept: the status line's sentences for results kept with paint on them
    lost = []  # the status line's sentences for results not written (`images.NotWritten`)

    def writes():  # each image in pieces (`images.write_steps`): Blender's timer spreads them over its ticks
        for i, (stage, payload) in enumerate(items):
            items[i] = (stage, None)  # its pixels are Blender's once written: free ours (`write_steps`)
            h, w = payload[1]
            painted = []
            try:
                image = yield from images.write_steps(
                    images.result_name(base, pipeline.RESULT_SUFFIX[stage]),
                    payload,
                    stage,
                    source,
                    meta["uid"],
                    chain + made_by(records, stage),
                    painted,
                    spare[0],
                )
            except images.NotWritten as why:  # (deleted or undone away by the artist between two pieces)
                lost.append(str(why))
                image = None
            del payload
            if i + 1 == len(items):
                spare.clear()
            if image is None:
                continue
            image[WRITTEN_AT] = meta["started"]
            if redrawn:
                image[images.DRAWN_TAG] = True
            elif images.DRAWN_TAG in image:  # (updated in place: made of a picture in colour this time)
                del image[images.DRAWN_TAG]
            if sketch_digest:
                image[images.SKETCH_TAG] = sketch_digest
            elif images.SKETCH_TAG in image:  # (Stylize Render's: no sketch)
                del image[images.SKETCH_TAG]
            written.append(image.name)
            sizes.append(f"{w}x{h}")
            if painted:
                kept.append(images.kept_note(painted[0], image.name))
            yield runtime.TICK
        if meta["live"]:  # up to 10 previews a second: no status line or undo step for each
            runtime.redraw()
            if lost:
                runtime.report(" ".join(lost), "ERROR")
            elif kept:  # (once per painted result: later previews update the numbered one)
                runtime.report(" ".join(kept))
            return
        seconds = time.perf_counter() - meta["t0"]
        runtime.later(lambda: done(seconds))  # a step of its own: no timer tick both writes and reports

    def done(seconds: float) -> None:
        if not written:  # (each deleted or undone away while it was written)
            runtime.report(f"NFTGan wrote no result: {' '.join(lost)}", "ERROR")
            return
        if len(set(sizes)) == 1:
            what = f"{', '.join(repr(n) for n in written)} ({sizes[0]}, "
        else:  # (with Upscale) each result's own size: "(2048x2048" after all three names misled
            what = ", ".join(f"{n!r} {size}" for n, size in zip(written, sizes, strict=True)) + " ("
        line = f"NFTGan wrote {what}{seconds:.1f} s; {provenance.describe(records)})"
        if meta["uid"] is not None and sketch is None:
            what = "image" if coloured else "sketch"  # (a result restyled is no sketch)
            line += f" (the {what} '{meta['name']}' was deleted meanwhile; the results are kept)"
        notes = []
        if turned != 1:
            notes.append(
                f"Note: {os.path.basename(meta['path'])} is shown as its file stores it, turned: other apps "
                "turn it by its EXIF orientation, Blender does not (the results match it as shown); to stylize it "
                f"upright: Image > Transform > {UPRIGHT[turned]}, then Stylize."
            )
        if blank:
            notes.append(
                f"Note: '{name}' has nothing drawn on it, so the styles had no lines to follow: draw dark lines "
                "on it, then Stylize."
            )
        if coloured and meta["skip"]:  # (Colorize chosen, and left out)
            notes.append(f"Colorize skipped: {coloured} is in colour already")
        elif redrawn:
            notes.append(f"'{name}' (an NFTGan result) is a line drawing now: colorized as a sketch")
        for sentence in lost + notes + kept:  # (one full stop between sentences: some end with their own)
            line += f"{'' if line.endswith('.') else '.'} {sentence}"
        runtime.report(line, "ERROR" if lost else "INFO")
        try:
            bpy.ops.ed.undo_push(message="NFTGan Stylize")
        except RuntimeError:  # no undo stack without a window (background / bpy module)
            pass

    runtime.later(writes())
    return written


def made_by(records: list[dict], stage: str) -> list[dict]:
    """The provenance records of the models that made a stage's result: its own and the stages' before it (a
    colorized result never went through the Stylize or Upscale style of its run). (A picture in colour already
    restyled: `apply_results` puts the models that made it, `images.models_of`, before these.)"""
    upto = pipeline.STAGES.index(stage)
    return [r for r in records if r["kind"] in pipeline.STAGES[: upto + 1]]


def newest_result(sketch_name: str, sketch_uid: int | None = None):
    """The image the sketch's newest Stylize wrote last (its last stage), from what each result records (saved
    with the file), or None. Results written before they recorded it count as oldest, by stage. `sketch_uid`:
    the sketch's session_uid (not the results of a sketch of that name deleted since, `images.made_of`)."""
    order = {stage: i for i, stage in enumerate(pipeline.STAGES)}
    found = [
        im
        for im in bpy.data.images
        if im.get(images.RESULT_TAG) in order
        and images.made_of(im, sketch_name, sketch_uid)
        and im.library is None
    ]
    return max(found, key=lambda im: (im.get(WRITTEN_AT, 0.0), order[im[images.RESULT_TAG]]), default=None)


def current_job() -> jobs.Job | None:
    return SLOT.current()


def _job_args(taken: Taken) -> dict:
    """`start`'s keyword arguments from what `take` took."""
    return {k: getattr(taken, k) for k in ("models", "coloured", "drawn", "refused")}


# ----------------------------------------------------------------------------------------------- live preview

LIVE_NO_SKETCH = (
    "Live Preview is off: it has no sketch (deleted, or none picked). Pick one in the panel or press New Sketch "
    "Canvas, then turn Live Preview on again."
)
_live = {"seen": None, "next": 0.0}  # seen: the last sketch state the worker previewed (its digest)


def live_tick(now: float | None = None) -> jobs.Job | None:
    """Called by the runtime timer while Blender runs: with Live Preview on, hand the scene's sketch as it is
    now to the worker (one foreach_get here) and return that job. The worker skips it when nothing changed
    since its last preview; otherwise it replaces the look still queued (latest wins) and runs once the
    preview being computed has finished, so a sketch that keeps changing gets a new preview as fast as the
    models go. Looks are LIVE_INTERVAL apart, more for big sketches, so that looking takes at most
    LIVE_SHARE of the main thread."""
    context = bpy.context
    scene = getattr(context, "scene", None)
    if scene is None or runtime.worker is None or not scene.nftgan.live_preview:
        return None
    runtime.tick_within(LIVE_INTERVAL)
    image = scene.nftgan.sketch
    if image is None:  # deleted (or none picked yet): off, and why, not on doing nothing
        scene.nftgan.live_preview = False
        runtime.report(LIVE_NO_SKETCH, "WARNING")
        return None
    now = time.monotonic() if now is None else now
    if now < _live["next"]:
        return None
    t0 = time.perf_counter()
    try:
        taken = take(context, image)
        _live["next"] = now + max(LIVE_INTERVAL, (time.perf_counter() - t0) / LIVE_SHARE)
        return start(context, *taken[:2], image.name, image.session_uid, live=True, **_job_args(taken))
    except UserError as exc:
        scene.nftgan.live_preview = False
        runtime.report(str(exc), "ERROR")
        return None


# ----------------------------------------------------------------------------------------------- operators


class NFTGAN_OT_stylize(Operator):
    """Colorize and stylize the sketch in the background (an image NFTGan made, in colour already: stylize or
    upscale only); the results become new images"""

    bl_idname = "nftgan.stylize"
    bl_label = "Stylize"
    bl_options = {"REGISTER"}

    image: StringProperty(name="Image", description="Sketch image (default: the image being edited)")

    @classmethod
    def poll(cls, _context):
        return runtime.worker is not None

    def execute(self, context):
        image = images.find_sketch(context, self.image)
        if image is None:
            self.report(
                {"ERROR"},
                f"No sketch image '{self.image}'"
                if self.image
                else "No sketch: open an image in the Image Editor or use New Sketch Canvas",
            )
            return {"CANCELLED"}
        if (
            image.type == "RENDER_RESULT"
        ):  # the render shown in the Image Editor (or named): as Stylize Render
            return stylize_render(self, context)

        def begin():
            taken = take(context, image)
            # changed since loaded (turned as the note says, painted): its file's orientation is not what it shows
            path = images.file_path(image) if not image.is_dirty else ""
            start(context, *taken[:2], image.name, image.session_uid, path=path, **_job_args(taken))
            context.scene.nftgan.sketch = image

        return start_from(self, begin, f"Stylizing '{image.name}' in the background")


class NFTGAN_OT_cancel(Operator):
    """Stop the running stylize job (within one tile)"""

    bl_idname = "nftgan.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, _context):
        return runtime.worker is not None and SLOT.current() is not None

    def execute(self, _context):
        self.report({"INFO"}, f"Cancelled {SLOT.cancel()} NFTGan job(s)")
        return {"FINISHED"}


class NFTGAN_OT_stylize_render(Operator):
    """Restyle the Render Result's colours with the Stylize style, or enlarge it with Upscale (renders the scene
    first when there is none)"""

    bl_idname = "nftgan.stylize_render"
    bl_label = "Stylize Render"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, _context):
        return runtime.worker is not None

    def execute(self, context):
        return stylize_render(self, context)


def stylize_render(op, context):
    """Stylize the Render Result as shown (rendered first when there is none): `op`'s execute. The render is
    in colour already: no Colorize (`in_colour`)."""

    def begin():
        # (before rendering: nothing to run is said at once)
        models = chosen_models(context.scene, RENDER)
        start(context, *images.render_snapshot(), "Render", None, models=models, coloured=RENDER)

    return start_from(op, begin, "Stylizing the render in the background")


CLASSES = (NFTGanSceneProps, NFTGAN_OT_stylize, NFTGAN_OT_cancel, NFTGAN_OT_stylize_render)


def register():
    bpy.types.Scene.nftgan = PointerProperty(type=NFTGanSceneProps)
    runtime.on_tick(live_tick)


def unregister():
    runtime.remove_tick(live_tick)
    del bpy.types.Scene.nftgan
    SLOT.clear()
