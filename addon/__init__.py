"""NFTGan Blender extension entry point: register/unregister only (see addon/blender)."""


def register():
    from . import blender

    blender.register()


def unregister():
    from . import blender

    blender.unregister()
