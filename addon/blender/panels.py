"""The NFTGan sidebar panel, in the Image Editor and in the 3D Viewport while in Texture Paint."""

from __future__ import annotations

from bpy.types import Panel

from ..core import styles as core_styles
from . import canvas, runtime, styles, stylize
from .ui import ImageEditorSidebar, clip, wrap

# The last report's box shows the whole message up to this many lines (a publish staged offline says where
# its files are and the upload command: 9 lines of 50 for the demo's); the status bar shows it too
REPORT_LINES = 12


def draw(layout, context):
    props = context.scene.nftgan
    col = layout.column(align=True)
    col.template_ID(props, "sketch", open="image.open")
    row = col.row(align=True)
    row.prop(props, "canvas_size", text="")
    row.operator("nftgan.new_canvas", icon="IMAGE_DATA").size = props.canvas_size
    draw_hints(layout, context)

    found = styles.styles(context)
    if not core_styles.of_kind(found, "colorize") and not core_styles.of_kind(found, "stylize"):
        styles.draw_style_list(layout)
        return
    for kind in ("colorize", "stylize"):
        box = layout.box()
        box.label(text=kind.capitalize())
        box.template_icon_view(props, kind, show_labels=True, scale=5.0, scale_popup=5.0)
        style = core_styles.find(found, kind, styles.wanted(props, kind) or None)
        if style is None:
            continue
        if style.description:
            for line in clip(style.description, 40, 2):  # all of it: hover the picker, or the ⓘ button
                box.label(text=line)
        if style.info.keep_colours:
            box.label(text="Keeps your colours, adds its shading", icon="COLOR")
        draw_stage_options(box, props, kind)
    if core_styles.of_kind(found, "upscale"):
        col = layout.column(align=True)
        col.prop(props, "upscale", text="Upscale")
        if core_styles.find(found, "upscale", styles.wanted(props, "upscale")):
            draw_stage_options(col, props, "upscale")
    if any(not s.ok for s in found):
        layout.label(text=f"{sum(not s.ok for s in found)} model(s) unusable: see Preferences", icon="ERROR")

    if not stylize.SLOT.draw(layout):
        layout.operator("nftgan.stylize", icon="BRUSHES_ALL")
    layout.prop(props, "live_preview")
    row = layout.row(align=True)
    row.operator("nftgan.apply_material", icon="MATERIAL")
    row.operator("nftgan.stylize_render", icon="RENDER_RESULT")
    level, message = runtime.last_report
    if message:
        box = layout.box()
        box.alert = level == "ERROR"
        for line in clip(message, 50, REPORT_LINES):
            box.label(text=line)


def draw_hints(layout, context) -> None:
    """How hints work, and the hint palette (New Sketch Canvas makes it) to pick dab colours from."""
    col = layout.column(align=True)
    for i, line in enumerate(wrap(canvas.HINTS_HELP, 44)):
        col.label(text=line, icon="INFO" if i == 0 else "BLANK1")
    paint = context.scene.tool_settings.image_paint
    if paint.palette is not None:
        row = col.row(align=True)
        row.prop(canvas.unified_settings(paint), "color", text="")
        col.template_palette(paint, "palette", color=True)


def draw_stage_options(layout, props, kind: str) -> None:
    """A stage's Strength, Keep My Lines (upscale follows the stage it enlarges) and Style Info."""
    row = layout.row(align=True)
    row.prop(props, f"{kind}_strength", slider=True)
    op = row.operator(styles.NFTGAN_OT_style_info.bl_idname, text="", icon="INFO")
    op.kind = kind
    if hasattr(props, f"{kind}_keep_lines"):
        layout.prop(props, f"{kind}_keep_lines")
    if hasattr(props, f"{kind}_fill_hints"):
        layout.prop(props, f"{kind}_fill_hints")


class NFTGAN_PT_image_editor(ImageEditorSidebar, Panel):
    bl_label = "NFTGan"

    def draw(self, context):
        draw(self.layout, context)


class NFTGAN_PT_view3d(Panel):
    bl_label = "NFTGan"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "NFTGan"

    @classmethod
    def poll(cls, context):
        return context.mode == "PAINT_TEXTURE"

    def draw(self, context):
        draw(self.layout, context)


CLASSES = (NFTGAN_PT_image_editor, NFTGAN_PT_view3d)
