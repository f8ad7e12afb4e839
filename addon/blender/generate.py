"""Generate (a collection from a generate model) and Publish Collection, in the NFTGan sidebar.

Generate: the worker samples the chosen model (addon.core.generate: one seed per image, or a slerp walk
between two seeds) and encodes the PNGs; the main thread then writes one image datablock per sample
("<model> seed000007") and a grid preview ("<model> grid"), packed, with their seed and model recorded
on the image. The same model and seed give the same image every time, here and in `nftgan generate`.

Publish Collection: the same plan, published token by token with the chosen publish backend through
addon.core.collection (ledger-backed: an interrupted batch continues without publishing a token twice). It
is a job of the publish slot: the panel draws its progress (token k of N: step) and Cancel from memory.
"""

from __future__ import annotations

import os
import time

import bpy
from bpy.props import EnumProperty, IntProperty, PointerProperty, StringProperty
from bpy.types import Operator, Panel, PropertyGroup

from ..core import collection, jobs
from ..core import generate as core_generate
from ..core import styles as core_styles
from ..core.errors import UserError
from ..core.publish import provenance
from ..core.publish.backends import LABELS
from ..core.publish.ledger import STAGED
from . import images, publish, runtime, styles
from .jobslot import JobSlot, start_from
from .ui import ImageEditorSidebar, wrap

GRID_SUFFIX = "grid"
# Blender's whole-number properties (Seed, and the seed recorded on each image) are 32-bit
MAX_SEED = 2**31 - 1
SLOT = JobSlot("generate", latest_wins=True)
# the add-on is being disabled (Blender quitting does that): a batch this stops was not cancelled by the artist
_closing = False


class NFTGanGenerateProps(PropertyGroup):
    generate_id: StringProperty(description="Chosen generate model (file name without .onnx)")
    generate: styles.style_enum("generate")
    count: IntProperty(name="Count", default=9, min=1, max=256, description="How many images (or tokens)")
    seed: IntProperty(
        name="Seed",
        default=0,
        min=0,
        description="Image i comes from seed Seed + i: the same seed always gives the same image",
    )
    variation: EnumProperty(
        name="Variation",
        default="SEEDS",
        items=[
            ("SEEDS", "Seeds", "One image per seed: Seed, Seed + 1, ..."),
            (
                "INTERPOLATE",
                "Interpolate",
                (
                    "Walk from Seed to Seed To in Count steps (spherical "
                    "interpolation of the latents): variations between two images"
                ),
            ),
        ],
    )
    seed_to: IntProperty(name="Seed To", default=1, min=0, description="The walk's last image")
    collection_name: StringProperty(name="Collection", description="Token names: '<Collection> #1', '#2' ...")
    description: StringProperty(name="Description", description="Description of every token")
    last_manifest: StringProperty(
        name="Manifest", description="URI of the last published collection manifest"
    )


def chosen_model(context) -> core_styles.Style:
    style = styles.chosen("generate", context.scene.nftgan_generate.generate_id, context)
    if style is None:
        raise UserError(
            "No generate model installed: train one with `nftgan train dcgan --data FOLDER ...`, "
            "export it with `nftgan export`, and add its folder in the add-on preferences (a folder already "
            "listed there: press Refresh Styles)."
        )
    return style


def plan_of(props) -> list[core_generate.Sample]:
    if props.variation == "INTERPOLATE":
        return core_generate.interpolation_plan(props.seed, props.seed_to, props.count)
    if props.seed + props.count - 1 > MAX_SEED:
        raise UserError(
            f"Seeds {props.seed} to {props.seed + props.count - 1} run past {MAX_SEED}, the largest seed Blender "
            f"can record on an image: lower Seed to {MAX_SEED - props.count + 1} or less."
        )
    return core_generate.seeds_plan(props.seed, props.count)


def start(context) -> jobs.Job:
    """Main thread: read the settings; the worker samples and encodes; apply() writes the datablocks."""
    style = chosen_model(context)
    info = style.info
    plan = plan_of(context.scene.nftgan_generate)
    opts = styles.settings(context)
    to_scene = images.scene_matrices()[0]  # the file's linear space, when not Rec.709
    t0 = time.perf_counter()

    def work(job):
        samples = core_generate.run(info, core_generate.latents(plan, info.latent), job=job, **opts)
        out = []
        for rgba in [*samples, core_generate.grid(samples)]:
            job.check()
            out.append(images.result_payload(rgba, to_scene))
        return [provenance.model_record("generate", info)], out

    return SLOT.submit(
        work, label=f"Generate {len(plan)} from {info.name}", on_done=lambda job: apply(job, info, plan, t0)
    )


def apply(job: jobs.Job, info, plan, t0: float) -> list[str]:
    """Main thread: one datablock per sample and the grid, written in later drain steps (the pieces of
    `images.write_steps`), then the report. Returns their names (grid last), which fill up as the steps run."""
    if not SLOT.ended(job, failed="Generate failed", cancelled="Generate cancelled"):
        return []
    records, results = job.result
    # (payloads as lists: `write_steps` lets go of each one's floats once Blender holds them; the job and the
    # slot let go of them here, else every sample and the grid stayed in memory until the next Generate)
    payloads = [list(payload) for payload in results]
    del results
    job.result = None
    SLOT.release(job)
    names, kept, lost = [], [], []  # lost: the status line's sentences for images not written
    grid = []

    def writes():
        for i, payload in enumerate(payloads):
            payloads[i] = None
            stem = plan[i].stem if i < len(plan) else GRID_SUFFIX
            painted = []
            try:
                image = yield from images.write_steps(
                    f"{info.name} {stem}", payload, "generate", info.name, None, records, painted
                )
            except images.NotWritten as why:  # (deleted or undone away by the artist between two pieces)
                lost.append(str(why))
                continue
            del payload
            if painted:
                kept.append(images.kept_note(painted[0], image.name))
            if i < len(plan):
                image["nftgan_seed"] = plan[i].seed
                if plan[i].seed_to is not None:
                    image["nftgan_seed_to"], image["nftgan_t"] = plan[i].seed_to, plan[i].t
            else:
                grid.append(image.name)
            names.append(image.name)
            yield runtime.TICK
        if not names:  # (all deleted or undone away meanwhile)
            runtime.report(f"Generate from {info.name} wrote no image: {' '.join(lost)}", "ERROR")
            return
        if grid:
            _show(bpy.data.images[grid[0]])
        made = len(names) - len(grid)
        line = (
            f"Generated {made} image{'s' * (made != 1)} from {info.name} in {time.perf_counter() - t0:.1f} s"
        )
        line += f" (grid: '{grid[0]}')" if grid else ""
        for sentence in lost + kept:  # (one full stop between sentences: some end with their own)
            line += f"{'' if line.endswith('.') else '.'} {sentence}"
        runtime.report(line, "ERROR" if lost else "INFO")

    runtime.later(writes())
    return names


def _show(image) -> None:
    """Put the grid preview in an Image Editor showing no image or an earlier grid."""
    wm = getattr(bpy.context, "window_manager", None)
    for window in getattr(wm, "windows", ()):
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                space = area.spaces.active
                if space.image is None or space.image.name.endswith(GRID_SUFFIX):
                    space.image = image
                    return


def start_publish(context) -> jobs.Job:
    """Main thread: the plan, the model and the backend; the worker publishes the tokens one by one."""
    props = context.scene.nftgan_generate
    style = chosen_model(context)
    req = collection.CollectionRequest(
        model=style.info,
        plan=plan_of(props),
        name=props.collection_name.strip() or style.info.name,
        description=props.description,
    )
    backend = publish.make_backend(publish.chosen_kind(context), context)
    store = publish.ledger()
    opts = styles.settings(context)

    stopped: dict = {}  # how far a cancelled batch got (the worker keeps no Cancelled's message)
    in_file = runtime.generation

    def work(job):
        try:
            return collection.publish_collection(
                req, backend, store, progress=job.progress, check=job.check, closing=lambda: _closing, **opts
            )
        except collection.CollectionCancelled as exc:
            stopped["cancelled"] = exc
            raise

    def done(job):
        publish.invalidate_gallery()
        cut = stopped.get("cancelled")
        if publish.SLOT.ended(
            job,
            failed="Publishing the collection stopped: {error}. Publish Collection again continues it without "
            "publishing any token twice.",
            cancelled=(
                f"Publishing collection '{req.name}' was {cut}. Publish Collection again {cut.again} without "
                "publishing any token twice."
                if cut is not None
                else f"Publishing collection '{req.name}' was cancelled. Publish Collection again continues it "
                "without publishing any token twice."
            ),
            cancelled_level="WARNING",
        ):
            result = job.result
            if runtime.generation == in_file:  # (another file loaded meanwhile does not get its manifest)
                bpy.context.scene.nftgan_generate.last_manifest = result.manifest_uri
            staged = all(t.state == STAGED for t in result.tokens)  # Offline: written to a folder
            runtime.report(
                f"{'Staged' if staged else 'Published'} collection '{req.name}': {len(result.tokens)} tokens"
                f"{_before(result.skipped, len(result.tokens), 'staged' if staged else 'published')}; "
                + (
                    f"in {backend.endpoint}, not on IPFS yet: upload its CARs (ipfs dag import "
                    f"{os.path.join(backend.endpoint, '*.car')}), then the manifest {result.manifest_uri} works"
                    if staged
                    else f"manifest {result.manifest_uri}"
                ),
                outlives_file=True,
            )

    return publish.SLOT.submit(work, label=f"Publish collection {req.name}", on_done=done)


def _before(skipped: int, total: int, word: str) -> str:
    """How many tokens an earlier run had published: an interrupted run, a finished one, or another Blender
    (the ledger does not say which)."""
    if not skipped:
        return ""
    some = (
        f"all {total} were" if skipped == total else f"{skipped} of them {'was' if skipped == 1 else 'were'}"
    )
    return f" ({some} already {word} before this run, none {word} twice)"


class NFTGAN_OT_generate(Operator):
    """Sample images from the generate model in the background; each becomes an image, plus a grid preview"""

    bl_idname = "nftgan.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, _context):
        return runtime.worker is not None

    def execute(self, context):
        return start_from(self, lambda: start(context), "Generating in the background")


class NFTGAN_OT_publish_collection(Operator):
    """Publish Count tokens (image + metadata with seed and model) and a collection manifest; running it again
    after an interruption continues without publishing any token twice"""

    bl_idname = "nftgan.publish_collection"
    bl_label = "Publish Collection"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, _context):
        return publish.can_start(cls)  # (greyed out: the tooltip says which publish runs, and where)

    def invoke(self, context, _event):
        return context.window_manager.invoke_confirm(
            self, _event, message=f"Publish {context.scene.nftgan_generate.count} tokens?"
        )

    def execute(self, context):
        return start_from(self, lambda: start_publish(context), "Publishing the collection in the background")


class NFTGAN_PT_generate(ImageEditorSidebar, Panel):
    bl_label = "Generate Collection"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        props = context.scene.nftgan_generate
        if not core_styles.of_kind(styles.styles(context), "generate"):
            for line in wrap(
                core_styles.onnxruntime_error()
                or "No generate model installed. Train one with `nftgan train dcgan` (or "
                "wgan-gp), export it with `nftgan export`, and add its folder in the "
                "add-on preferences (a folder already listed there: press Refresh Styles).",
                50,
            ):
                layout.label(text=line)
            return
        layout.prop(props, "generate", text="Model")
        col = layout.column(align=True)
        col.prop(props, "count")
        col.prop(props, "seed")
        layout.prop(props, "variation", expand=True)
        if props.variation == "INTERPOLATE":
            layout.prop(props, "seed_to")
        if not SLOT.draw(layout):
            layout.operator(NFTGAN_OT_generate.bl_idname, icon="SHADERFX")
        box = layout.box()
        box.label(text="Publish collection", icon="WORLD")
        box.prop(props, "collection_name")
        box.prop(props, "description")
        box.label(text=f"to {LABELS[publish.chosen_kind(context)]} (Preferences)")
        if not publish.SLOT.draw(box):  # a publish running: where it is (token k of N: step) and Cancel
            box.operator(NFTGAN_OT_publish_collection.bl_idname, icon="EXPORT")
        if props.last_manifest:
            box.label(text=props.last_manifest)


CLASSES = (NFTGanGenerateProps, NFTGAN_OT_generate, NFTGAN_OT_publish_collection, NFTGAN_PT_generate)


def register():
    global _closing
    _closing = False
    bpy.types.Scene.nftgan_generate = PointerProperty(type=NFTGanGenerateProps)


def unregister():
    global _closing
    _closing = True  # (before runtime's unregister stops the worker: the next start names the batch it cut)
    del bpy.types.Scene.nftgan_generate
    SLOT.clear()
