"""The thin Blender layer. Each feature module lists its bpy classes in CLASSES and may define
register()/unregister() for anything else (scene properties, handlers, menus). Modules are registered
in this order (classes first, then register()) and unregistered in reverse."""

import importlib

import bpy

MODULES = ["preferences", "runtime", "stylize", "canvas", "panels", "publish", "generate"]


def _modules():
    return [importlib.import_module(f".{name}", __name__) for name in MODULES]


def register():
    for module in _modules():
        for cls in getattr(module, "CLASSES", ()):
            bpy.utils.register_class(cls)
        if hasattr(module, "register"):
            module.register()


def unregister():
    for module in reversed(_modules()):
        if hasattr(module, "unregister"):
            module.unregister()
        for cls in reversed(getattr(module, "CLASSES", ())):
            bpy.utils.unregister_class(cls)
