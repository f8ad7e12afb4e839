"""The NFTGan sidebar panel, in the Image Editor and in the 3D Viewport while in Texture Paint."""

from __future__ import annotations

from bpy.types import Panel

from ..core import styles as core_styles
from . import runtime, styles, stylize
from .ui import ImageEditorSidebar, wrap


def draw(layout, context):
    props = context.scene.nftgan
    col = layout.column(align=True)
    col.template_ID(props, "sketch", open="image.open")
    row = col.row(align=True)
    row.prop(props, "canvas_size", text="")
    row.operator("nftgan.new_canvas", icon="IMAGE_DATA").size = props.canvas_size

    found = styles.styles(context)
    if not core_styles.of_kind(found, "colorize") and not core_styles.of_kind(found, "stylize"):
        styles.draw_style_list(layout)
        return
    for kind in ("colorize", "stylize"):
        box = layout.box()
        box.label(text=kind.capitalize())
        box.template_icon_view(props, kind, show_labels=True, scale=5.0, scale_popup=5.0)
        style = core_styles.find(found, kind, getattr(props, f"{kind}_id") or None)
        if style is not None and style.description:
            box.label(text=style.description)
    if core_styles.of_kind(found, "upscale"):
        layout.prop(props, "upscale", text="Upscale")
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
        for line in wrap(message, 50)[:4]:
            box.label(text=line)


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
