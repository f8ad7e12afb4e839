"""New sketch canvas (white image on the active mesh, ready for Texture Paint) and Apply to material."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty, StringProperty
from bpy.types import Operator

from ..core import imageio, pipeline
from . import images, stylize

SKETCH_NODE = "NFTGan Sketch"
RESULT_NODE = "NFTGan Result"
PALETTE = "NFTGan Hints"
# How hints work, in the panel (short: Blender's labels do not wrap)
HINTS_HELP = (
    "Black strokes are lines. A coloured dab or scribble inside a shape fills that shape with its colour. "
    "A grey, white or pale dab fills a closed shape too (a grey wall, a white door); a thin grey stroke is pencil. "
    "Things you leave undabbed get colours from the most similar training picture; dabbed ones yours."
)


def line_width(canvas_px: int) -> int:
    """The line brush's diameter (px) for a canvas: lines about 2.5 px wide at the default styles' 256 px work
    size when the canvas is seen 1:1 (the line width the colorizer learned from)."""
    return max(3, round(2.5 * canvas_px / 256))


def brush_size(width: int) -> int:
    """A brush `size` for a line `width`: Blender 5 measures brushes by diameter, earlier ones by radius."""
    return width if bpy.app.version >= (5, 0, 0) else max(1, round(width / 2))


def hint_palette():
    """The palette of hint colours, black (lines) first (made once per file; colours the artist changed are
    kept)."""
    palette = bpy.data.palettes.get(PALETTE)
    if palette is None:
        palette = bpy.data.palettes.new(PALETTE)
        palette.colors.new().color = (0.0, 0.0, 0.0)  # back to drawing lines after a dab
        srgb = np.array([[(*rgb, 1.0) for rgb in pipeline.HINT_PALETTE.values()]], np.float32)
        for linear in imageio.srgb_to_linear(srgb)[0]:
            palette.colors.new().color = linear[:3]  # Blender's palette colours are scene linear
    return palette


def unified_settings(paint):
    """The colour and size a paint mode's brushes share (UnifiedPaintSettings): the mode's own from Blender
    5.0 on (`Paint.unified_paint_settings`), the scene's tool settings' for every mode before."""
    ups = getattr(paint, "unified_paint_settings", None)
    return ups if ups is not None else paint.id_data.tool_settings.unified_paint_settings


def line_brush(paint, canvas_px: int) -> None:
    """Texture Paint draws black lines `line_width` wide, and picks dab colours from the hint palette.
    Settings only (paint operators crash the bpy module): the mode's shared colour and size, used by every
    brush that shares them (the switches are the brush's own from Blender 5.3 on, the mode's before), and
    the active brush's own colour and size, for a brush that does not."""
    ups, brush, size = unified_settings(paint), paint.brush, brush_size(line_width(canvas_px))
    per_brush = "use_unified_color" in bpy.types.Brush.bl_rna.properties
    for owner in [brush] if per_brush else [ups]:
        if owner is not None:
            owner.use_unified_color = owner.use_unified_size = True
    for owner in (ups, brush):
        if owner is not None:
            owner.color = (0.0, 0.0, 0.0)
            owner.size = size
    paint.palette = hint_palette()


def _principled(mat):
    """The material's Principled BSDF (created and wired to the output when missing)."""
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is None:
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        out = next((n for n in nodes if n.type == "OUTPUT_MATERIAL"), None) or nodes.new(
            "ShaderNodeOutputMaterial"
        )
        links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return bsdf


def new_material(name: str):
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:
        mat.use_nodes = True  # Blender < 5 (materials always have nodes from 5.0 on)
    return mat


def show_image_node(mat, image, node_name: str, paint_here: bool):
    """Put `image` in the material's image-texture node `node_name` and wire it to Base Color.
    `paint_here` makes it the active node, i.e. the image Texture Paint paints into."""
    nodes = mat.node_tree.nodes
    bsdf = _principled(mat)
    node = nodes.get(node_name)
    if node is None:
        node = nodes.new("ShaderNodeTexImage")
        node.name = node.label = node_name
        sketch = nodes.get(SKETCH_NODE)
        node.location = (bsdf.location.x - 400, bsdf.location.y - (300 if sketch is not None else 0))
    node.image = image
    mat.node_tree.links.new(node.outputs["Color"], bsdf.inputs["Base Color"])
    if paint_here:
        nodes.active = node
    return node


class NFTGAN_OT_new_canvas(Operator):
    """A white sketch, a black line brush and hint colours; on the active mesh a material and UV map too"""

    bl_idname = "nftgan.new_canvas"
    bl_label = "New Sketch Canvas"
    bl_options = {"REGISTER", "UNDO"}

    size: EnumProperty(name="Size", items=stylize.CANVAS_SIZES, default="1024")
    name: StringProperty(name="Name", default="Sketch")

    def execute(self, context):
        n = int(self.size)
        image = bpy.data.images.new(self.name, n, n, alpha=True)
        image.generated_color = (1.0, 1.0, 1.0, 1.0)
        image[images.CANVAS_TAG] = True  # packed when the .blend is saved (images._on_save_pre)
        image.use_fake_user = True  # kept until the artist deletes it, as the results are
        context.scene.nftgan.sketch = image
        paint = context.scene.tool_settings.image_paint
        paint.canvas = image
        obj = context.active_object
        where = ""
        if obj is not None and obj.type == "MESH":
            mesh = obj.data
            if not mesh.uv_layers:
                mesh.uv_layers.new(name="UVMap")
            mat = new_material(f"{obj.name} sketch")
            show_image_node(mat, image, SKETCH_NODE, paint_here=True)
            if obj.material_slots:
                slot = obj.material_slots[obj.active_material_index]
                old, slot.material = slot.material, mat
                if old is not None and old.users == 0 and old.library is None:  # else gone on the next save
                    old.use_fake_user = True
                    where = f"; its material '{old.name}' is kept in the file (pick it again in the slot)"
            else:
                mesh.materials.append(mat)
            paint.mode = "MATERIAL"
            where = f" on '{obj.name}'{where}"
            if context.mode != "PAINT_TEXTURE":
                try:
                    bpy.ops.object.mode_set(mode="TEXTURE_PAINT")
                except RuntimeError:  # no 3D view (e.g. called from a script in the background)
                    pass
        line_brush(paint, n)  # after entering Texture Paint, which makes a brush active
        for area in getattr(context.screen, "areas", ()):
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
        self.report({"INFO"}, f"New {n}x{n} sketch canvas '{image.name}'{where}")
        return {"FINISHED"}


class NFTGAN_OT_apply_material(Operator):
    """Show your newest Stylize's last result (upscaled, stylized or colorized) on the active object's material"""

    bl_idname = "nftgan.apply_material"
    bl_label = "Apply to Material"
    bl_options = {"REGISTER", "UNDO"}

    image: StringProperty(
        name="Image", description="Result image (default: the last result of the sketch's newest Stylize)"
    )

    @classmethod
    def poll(cls, context):
        if context.active_object is not None and context.active_object.type == "MESH":
            return True
        cls.poll_message_set("Select a mesh (the result goes on its material)")  # the greyed button's tooltip
        return False

    def execute(self, context):
        result = bpy.data.images.get(self.image) if self.image else None
        sketch = context.scene.nftgan.sketch
        if result is None and not self.image and sketch is not None:
            result = stylize.newest_result(sketch.name, sketch.session_uid)
        if result is None:
            if self.image:
                said = f"No image '{self.image}'"
            elif sketch is None:  # (deleted, its results kept: Stylize has no sketch either)
                said = "No sketch: pick one in the NFTGan panel (its image field), then Apply to Material"
            else:
                said = f"'{sketch.name}' has no results yet: Stylize it first"
            self.report({"ERROR"}, said)
            return {"CANCELLED"}
        obj = context.active_object
        mat = obj.active_material
        linked = mat if mat is not None else obj.data  # (what changes: the material, else the mesh gets one)
        if linked.library is not None:  # read-only here: a change would be gone when the file is opened again
            self.report(
                {"ERROR"},
                f"'{linked.name}' is linked from '{linked.library.name}' (read-only here): make it local first "
                "(Object > Relations > Make Local), or give the object a material of its own",
            )
            return {"CANCELLED"}
        if mat is None:
            mat = new_material(f"{obj.name} stylized")
            obj.data.materials.append(mat)
        if mat.node_tree is None:
            mat.use_nodes = True  # Blender < 5 (materials always have nodes from 5.0 on)
        show_image_node(mat, result, RESULT_NODE, paint_here=False)  # painting goes on in the sketch
        self.report({"INFO"}, f"'{obj.name}' now shows '{result.name}'")
        return {"FINISHED"}


CLASSES = (NFTGAN_OT_new_canvas, NFTGAN_OT_apply_material)
