"""The add-on's one AddonPreferences class (other features add their properties here)."""

import bpy
from bpy.props import CollectionProperty, EnumProperty, IntProperty, StringProperty
from bpy.types import AddonPreferences, Operator, PropertyGroup

ADDON_ID = __package__.rpartition(".")[0]  # "bl_ext.<repo>.nftgan"


def get(context=None):
    """The add-on's preferences, or None while it is not enabled."""
    addon = (context or bpy.context).preferences.addons.get(ADDON_ID)
    return addon.preferences if addon else None


def _styles_changed(_self, _context):
    from . import runtime

    runtime.refresh_styles()


class NFTGAN_PG_model_folder(PropertyGroup):
    path: StringProperty(
        name="Folder",
        subtype="DIR_PATH",
        update=_styles_changed,
        description="A folder of NFTGan .onnx style models",
    )


class NFTGAN_OT_model_folder_add(Operator):
    bl_idname = "nftgan.model_folder_add"
    bl_label = "Add Model Folder"
    bl_description = "Add a folder to search for NFTGan style models"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        get(context).model_folders.add()
        return {"FINISHED"}


class NFTGAN_OT_model_folder_remove(Operator):
    bl_idname = "nftgan.model_folder_remove"
    bl_label = "Remove Model Folder"
    bl_options = {"INTERNAL"}

    index: IntProperty()

    def execute(self, context):
        get(context).model_folders.remove(self.index)
        _styles_changed(None, context)
        return {"FINISHED"}


class NFTGanPreferences(AddonPreferences):
    bl_idname = ADDON_ID

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

    # publishing (addon/blender/publish.py draws these); tokens are PASSWORD fields: user preferences only
    publish_backend: EnumProperty(
        name="Publish to",
        description="Where Publish as NFT sends the image and its metadata",
        items=[
            ("OFFLINE", "Offline folder", "Write image, metadata, CARs and a manifest to a folder"),
            (
                "NFTSTORAGE",
                "NFT.storage API",
                "A service speaking the NFT.storage HTTP API (the public "
                "NFT.storage stopped accepting uploads on 2024-06-30)",
            ),
            ("PINATA", "Pinata", "Pinata's v3 upload API (needs a JWT)"),
            ("KUBO", "Local IPFS node", "A kubo node's RPC API on this computer"),
        ],
    )
    publish_offline_folder: StringProperty(
        name="Offline folder",
        subtype="DIR_PATH",
        description="Where Offline publishing writes (default: NFTGan's folder)",
    )
    publish_gateway: StringProperty(
        name="Gateway",
        description="IPFS gateway prefix for links (default: the service's own, e.g. https://ipfs.io/ipfs/)",
    )
    nftstorage_endpoint: StringProperty(
        name="Endpoint",
        default="https://api.nft.storage",
        description="Base URL of an NFT.storage-compatible API (HTTPS)",
    )
    nftstorage_token: StringProperty(name="API token", subtype="PASSWORD", description="The service's key")
    pinata_jwt: StringProperty(name="JWT", subtype="PASSWORD", description="Pinata API key JWT")
    pinata_endpoint: StringProperty(name="Upload endpoint", default="https://uploads.pinata.cloud")
    pinata_api_endpoint: StringProperty(name="API endpoint", default="https://api.pinata.cloud")
    kubo_endpoint: StringProperty(
        name="RPC endpoint",
        default="http://127.0.0.1:5001",
        description="The node's RPC API (HTTPS unless on this computer)",
    )
    kubo_token: StringProperty(
        name="RPC token", subtype="PASSWORD", description="Only if the node's API.Authorizations requires one"
    )

    def folder_paths(self) -> list[str]:
        return [bpy.path.abspath(f.path) for f in self.model_folders if f.path.strip()]

    def draw(self, context):
        from . import runtime

        layout = self.layout
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
        runtime.draw_style_list(layout)
        from . import publish

        publish.draw_preferences(self, layout)


CLASSES = (
    NFTGAN_PG_model_folder,
    NFTGAN_OT_model_folder_add,
    NFTGAN_OT_model_folder_remove,
    NFTGanPreferences,
)
