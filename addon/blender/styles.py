"""The style/preview cache: which style models there are, their preview thumbnails, the style pickers, and
the preferences that decide them (model folders, inference threads and device).

The model files are read once on the worker when the add-on starts (core.styles caches them by path, size
and mtime), so the first panel draw does not stall Blender; each colorize/stylize style's preview (the
sample drawing through the model) is made on the worker too.
"""

from __future__ import annotations

import logging
import os

import bpy
from bpy.props import CollectionProperty, EnumProperty, IntProperty, StringProperty
from bpy.types import Operator, PropertyGroup

from ..core import cpu, exemplar, jobs
from ..core import styles as core_styles
from ..core.errors import UserError
from . import preferences, runtime
from .ui import wrap

log = logging.getLogger(__name__)

_styles: list[core_styles.Style] | None = None
_previews = None  # bpy.utils.previews collection of style thumbnails
_thumb_paths: dict[str, str] = {}  # style path -> thumbnail PNG
_enum_items: dict[str, list] = {}  # Blender needs Python to keep dynamic enum items alive
_missing_items: dict[
    tuple, tuple
] = {}  # (kind, id, value) -> the picker's item of a style not installed here
OPTIONAL = {"upscale": "NONE"}  # stages that stay off until the user picks a model


def styles(context=None) -> list[core_styles.Style]:
    """Every style model found (bundled and the preferences' folders), usable or not (with the reason)."""
    global _styles
    if _styles is None:
        prefs = preferences.get(context)
        _styles = core_styles.scan(prefs.folder_paths() if prefs else ())
        _make_thumbnails(_styles)
    return _styles


def refresh_styles() -> None:
    global _styles
    _styles = None
    styles()
    runtime.redraw()


def settings(context=None) -> dict:
    """Inference settings from the preferences (threads, provider)."""
    prefs = preferences.get(context)
    if prefs is None:
        return {"threads": 0, "provider": "auto"}
    return {"threads": prefs.threads, "provider": prefs.provider.lower()}


def precision(context=None) -> str:
    """The precision preference: "auto" (int8 variants on CPUs with VNNI/AMX), "fp32" or "int8"."""
    prefs = preferences.get(context)
    return prefs.precision.lower() if prefs is not None else "auto"


def chosen(kind: str, style_id: str | None, context=None) -> core_styles.Style | None:
    """The style of this kind with this id, or with no id the first usable one of the kind (None: none
    installed). Raises UserError when onnxruntime cannot run any, and when the chosen style is unusable or
    not installed here (a .blend made on another computer): another style is never run in its place."""
    if problem := core_styles.onnxruntime_error():
        raise UserError(problem)
    found = styles(context)
    style = core_styles.find(found, kind, style_id or None)
    if style is None and style_id and (why := unavailable(kind, style_id, found)):
        raise UserError(why)  # not run another style in its place
    style = style or core_styles.find(found, kind, None)
    if style is None or core_styles.unchanged(style):
        return style
    refresh_styles()  # its file changed since the styles were listed: list them as they are now
    now = next((s for s in styles(context) if s.path == style.path), None)
    if now is None or not now.ok:
        reason = now.error if now is not None else f"{os.path.basename(style.path)} is gone from its folder."
        raise UserError(f"The {kind} style '{style.name}' cannot be used any more: {reason} {_PICK_ANOTHER}")
    return now


def unavailable(kind: str, style_id: str, found: list[core_styles.Style]) -> str:
    """Why the chosen style `style_id` is not there to use: its file is listed as unusable, or it is not
    installed here ("" when no style is usable at all: the callers say how to get styles)."""
    broken = next((s for s in found if not s.ok and s.id.lower() == style_id.lower()), None)
    if broken is not None:
        return f"The {kind} style '{broken.id}' cannot be used: {broken.error} {_PICK_ANOTHER}"
    return missing(kind, style_id, found) if any(s.ok for s in found) else ""


_PICK_ANOTHER = (
    "Pick another style, or put the file back and press Refresh Styles (Preferences > Add-ons > NFTGan)."
)


def _what(kind: str) -> str:
    return "generate model" if kind == "generate" else f"{kind} style"


def missing(kind: str, style_id: str, found: list[core_styles.Style]) -> str:
    """What to do about a chosen style that is not installed here (e.g. a .blend from another computer)."""
    installed = [s.name for s in core_styles.of_kind(found, kind)]
    pick = (
        f"pick one of the installed {_what(kind)}s ({', '.join(installed)})"
        if installed
        else f"install one (no {_what(kind)} is installed here)"
    )
    return (
        f"The {_what(kind)} '{style_id}' chosen in this file is not installed on this computer, so nothing was "
        f"run in its place. Add the folder that holds {style_id}.onnx in Preferences > Add-ons > NFTGan (Model "
        f"folders; a folder already listed there: press Refresh Styles), or {pick}."
    )


def thumbnail_path(style: core_styles.Style) -> str:
    """The style's preview PNG ("" until the worker has made it)."""
    return _thumb_paths.get(style.path, "")


def icon_id(style: core_styles.Style) -> int:
    if _previews is None or style.path not in _thumb_paths:
        return 0
    key = style.path
    if key not in _previews:
        _previews.load(key, _thumb_paths[style.path], "IMAGE")
    return _previews[key].icon_id


def _make_thumbnails(found) -> None:
    todo = [s for s in found if s.ok and s.kind in ("colorize", "stylize") and s.path not in _thumb_paths]
    if not todo or runtime.worker is None:
        return
    cache, opts = runtime.user_dir("thumbnails"), settings()

    def make(job):
        out = {}
        for i, style in enumerate(todo):
            job.progress(i / len(todo), f"preview of {style.name}")
            try:
                out[style.path] = core_styles.thumbnail(style, cache, **opts)
            except Exception as exc:  # noqa: BLE001 - a style that cannot make a thumbnail still works without one
                log.warning("NFTGan: no thumbnail for %s: %s", style.path, exc)
        return out

    def done(job):
        if job.state == jobs.DONE:
            _thumb_paths.update(job.result)
            runtime.redraw()

    runtime.submit(
        make, key="thumbnails", file_bound=False, latest_wins=True, label="style previews", on_done=done
    )


def read_in_background() -> None:
    """Read every model file once on the worker (importing onnxruntime and opening each file: ~0.3 s for
    the four shipped models, more with the user's own): the first panel draw then finds them cached. Then
    the exemplar colour indexes (~0.2 s each: the shipped one, and any beside a colorize style of the user's,
    exemplar.beside): the first Stylize of a sketch without dabs finds its style's read."""
    prefs = preferences.get()
    folders = prefs.folder_paths() if prefs else ()

    def read(job):
        found = core_styles.scan(folders)
        exemplar.load()
        for style in found:
            if style.ok and style.kind == "colorize":
                exemplar.beside(style.path)

    runtime.worker.submit(
        read,
        key="styles:read",
        label="NFTGan: reading styles",
        on_done=lambda job: runtime.redraw(),
    )


# ----------------------------------------------------------------------------------------------- pickers


def wanted(props, kind: str) -> str:
    """The chosen model id of a stage ("NONE": skipped; "": the first one, or off for an optional stage)."""
    return getattr(props, f"{kind}_id") or OPTIONAL.get(kind, "")


def style_enum(kind: str) -> EnumProperty:
    """A style picker (with previews) for a PropertyGroup that stores the choice in its `<kind>_id`."""

    def items(self, _context):  # each item's description is its hover text: the card in short (cached)
        found = core_styles.of_kind(styles(), kind)
        lst = [(s.id, s.name, s.tooltip, icon_id(s), i) for i, s in enumerate(found)]
        lst.append(
            ("NONE", "None" if found else "No styles installed", f"Skip the {kind} step", "BLANK1", len(lst))
        )
        want = wanted(self, kind) if self is not None else ""
        if want not in ("", "NONE") and core_styles.find(found, kind, want) is None:  # shown as it is, not
            # as the first style (a .blend from a computer where it is installed): Stylize refuses it. The
            # item is kept (its texts too): Blender holds on to the texts of the items it was given
            key = (kind, want, len(lst))
            if key not in _missing_items:
                _missing_items[key] = (
                    want,
                    f"{want} (not installed)",
                    missing(kind, want, styles()),
                    "ERROR",
                    len(lst),
                )
            lst.append(_missing_items[key])
        _enum_items[kind] = lst
        return lst

    def get(self):
        want = wanted(self, kind)
        lst = items(self, None)  # this scene's list: it holds this scene's choice when it is not installed
        return next((it[4] for it in lst if it[0] == want), 0)

    def set_(self, value):
        lst = items(self, None)
        setattr(self, f"{kind}_id", next((it[0] for it in lst if it[4] == value), ""))

    return EnumProperty(
        name=kind.capitalize(),
        items=items,
        get=get,
        set=set_,
        description=f"The {kind} model (with a preview of what it does; hover a style for its card)",
    )


# ----------------------------------------------------------------------------------------------- style info

_card_shown: list[str] = []  # the lines the Style Info popup draws


def open_card(style: core_styles.Style, context=None) -> bpy.types.Text:
    """The style's full card as a text datablock "<id>.md" (made or refreshed), shown in every Text Editor."""
    name = f"{style.id}.md"
    text = bpy.data.texts.get(name) or bpy.data.texts.new(name)
    text.from_string(core_styles.card_text(style))
    for area in getattr(getattr(context, "screen", None), "areas", ()):
        if area.type == "TEXT_EDITOR":
            area.spaces.active.text = text
    return text


class NFTGAN_OT_style_info(Operator):
    """Style Info: the chosen style's model card (what it was trained on, license, sizes, scores)"""

    bl_idname = "nftgan.style_info"
    bl_label = "Style Info"
    bl_options = {"REGISTER"}

    kind: StringProperty(name="Stage", description="colorize, stylize or upscale: that stage's chosen style")
    style: StringProperty(name="Style", description="A style's id (default: the stage's chosen style)")

    def _style(self, context) -> tuple[core_styles.Style | None, str]:
        """The style whose card to show, or None and why there is none."""
        found = styles(context)
        if self.style:
            style = next((s for s in found if s.ok and s.id == self.style), None)
            return style, "" if style else f"No style '{self.style}': nothing to show"
        scene = getattr(context, "scene", None)
        nothing = f"No {self.kind or 'stage'} style chosen: nothing to show"
        if scene is None or self.kind not in ("colorize", "stylize", "upscale"):
            return None, nothing
        want = wanted(scene.nftgan, self.kind)
        style = core_styles.find(found, self.kind, want or None)
        if style is None and want and want != "NONE":  # chosen, but not here: what Stylize says
            return None, unavailable(self.kind, want, found) or nothing
        return style, "" if style else nothing

    def execute(self, context):
        style, why = self._style(context)
        if style is None:
            self.report({"ERROR"}, why)
            return {"CANCELLED"}
        text = open_card(style, context)
        _card_shown[:] = core_styles.card_lines(text.as_string())
        self.report({"INFO"}, f"The card of '{style.name}' is in the Text Editor as '{text.name}'")
        return {"FINISHED"}

    def invoke(self, context, _event):
        if self.execute(context) != {"FINISHED"}:
            return {"CANCELLED"}
        return context.window_manager.invoke_popup(self, width=520)

    def draw(self, _context):
        col = self.layout.column(align=True)
        for line in _card_shown[:60]:
            for part in wrap(line, 90):
                col.label(text=part)
        col.separator()
        col.label(text="The whole card is in the Text Editor.")


def draw_style_list(layout) -> None:
    """The styles found, with reasons for the unusable ones (preferences and panel)."""
    found = styles()
    box = layout.box()
    valid = [s for s in found if s.ok]
    if problem := core_styles.onnxruntime_error():
        box.alert = True
        for i, line in enumerate(wrap(problem, 60)):
            box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
    elif not valid:
        for line in wrap(core_styles.HOW_TO_GET_STYLES, 60):
            box.label(text=line)
    for s in valid:
        box.label(text=f"{s.name}  ({s.kind}, {s.info.size}px)", icon_value=icon_id(s) or 0)
    for s in found:
        if not s.ok:
            col = box.column(align=True)
            col.alert = True
            for i, line in enumerate(wrap(s.error, 70)):
                col.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
    box.operator(NFTGAN_OT_refresh_styles.bl_idname, icon="FILE_REFRESH")


# ----------------------------------------------------------------------------------------------- preferences


def _styles_changed(_self, _context):
    refresh_styles()


class NFTGAN_PG_model_folder(PropertyGroup):
    path: StringProperty(
        name="Folder",
        subtype="DIR_PATH",
        update=_styles_changed,
        description="A folder of NFTGan .onnx style models",
    )


class StylePreferences:
    """Preferences section: model folders, inference threads and device, the styles found."""

    model_folders: CollectionProperty(type=NFTGAN_PG_model_folder)
    threads: IntProperty(
        name="Threads",
        default=0,
        min=0,
        max=256,
        update=_styles_changed,
        description="CPU threads used for inference (0: all cores)",
    )
    provider: EnumProperty(
        name="Run models on",
        update=_styles_changed,
        items=[
            (
                "AUTO",
                "Automatic",
                "The GPU (CUDA, DirectML or CoreML) when this onnxruntime offers it, else CPU",
            ),
            ("CPU", "CPU", "Always the CPU"),
        ],
    )

    precision: EnumProperty(
        name="Precision",
        items=[
            (
                "AUTO",
                "Automatic",
                "A style's int8 variant (NAME.int8.onnx) on CPUs with VNNI/AMX int8 instructions, where it "
                f"runs faster; fp32 elsewhere. Here: {cpu.describe()}",
            ),
            ("FP32", "fp32", "Always the full-precision model"),
            (
                "INT8",
                "int8",
                "The int8 variant wherever a style has one (faster on most CPUs, slightly different)",
            ),
        ],
        description="Which file of a style runs when it has an int8 variant",
    )

    def folder_paths(self) -> list[str]:
        return [bpy.path.abspath(f.path) for f in self.model_folders if f.path.strip()]

    def draw_section(self, layout) -> None:
        box = layout.box()
        box.label(text="Model folders (besides the bundled styles)", icon="FILE_FOLDER")
        for i, folder in enumerate(self.model_folders):
            row = box.row(align=True)
            row.prop(folder, "path", text="")
            row.operator(NFTGAN_OT_model_folder_remove.bl_idname, text="", icon="X").index = i
        box.operator(NFTGAN_OT_model_folder_add.bl_idname, icon="ADD")
        row = layout.row()
        row.prop(self, "threads")
        row.prop(self, "provider")
        row.prop(self, "precision")
        draw_style_list(layout)


PREFERENCES = StylePreferences


class NFTGAN_OT_model_folder_add(Operator):
    bl_idname = "nftgan.model_folder_add"
    bl_label = "Add Model Folder"
    bl_description = "Add a folder to search for NFTGan style models"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        preferences.get(context).model_folders.add()
        return {"FINISHED"}


class NFTGAN_OT_model_folder_remove(Operator):
    bl_idname = "nftgan.model_folder_remove"
    bl_label = "Remove Model Folder"
    bl_options = {"INTERNAL"}

    index: IntProperty()

    def execute(self, context):
        preferences.get(context).model_folders.remove(self.index)
        refresh_styles()
        return {"FINISHED"}


class NFTGAN_OT_refresh_styles(Operator):
    """Look for style models again (after copying new .onnx files into a model folder)"""

    bl_idname = "nftgan.refresh_styles"
    bl_label = "Refresh Styles"
    bl_options = {"INTERNAL"}

    def execute(self, _context):
        refresh_styles()
        return {"FINISHED"}


CLASSES = (
    NFTGAN_OT_style_info,
    NFTGAN_PG_model_folder,
    NFTGAN_OT_model_folder_add,
    NFTGAN_OT_model_folder_remove,
    NFTGAN_OT_refresh_styles,
)


def register():
    global _previews, _styles
    import bpy.utils.previews

    _styles = None
    _previews = bpy.utils.previews.new()
    _thumb_paths.clear()
    read_in_background()


def unregister():
    global _previews, _styles
    if _previews is not None:
        bpy.utils.previews.remove(_previews)
        _previews = None
    _styles = None
    _enum_items.clear()
