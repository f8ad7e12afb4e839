"""The thin Blender layer. Modules, bottom up (a module imports only modules listed before it):

- preferences: the AddonPreferences class, made of the features' sections (`PREFERENCES`)
- runtime:     the worker bridge (one worker thread, the main-thread drain, timer, reports)
- jobslot:     a job slot (newest job of a kind, its progress row and Cancel, how it ended)
- ui:          shared drawing helpers (the sidebar tab, wrapped text)
- images:      image I/O (find the sketch, snapshot pixels, write results, image bytes, the render)
- styles:      the style/preview cache (model folders, inference settings, style pickers, thumbnails)
- stylize, canvas, panels, publish, generate: the features

Each module lists its bpy classes in CLASSES, may define a preferences section in PREFERENCES, and may
define register()/unregister() for anything else (scene properties, handlers, timers via runtime.on_tick,
menus). register(): every module's classes, then the preferences class, then each register(), in this
order; unregister() undoes it in reverse.
"""

import importlib

import bpy

MODULES = [
    "preferences",
    "runtime",
    "jobslot",
    "ui",
    "images",
    "styles",
    "stylize",
    "canvas",
    "panels",
    "publish",
    "generate",
]
_registered: list[type] = []


def _modules():
    return [importlib.import_module(f".{name}", __name__) for name in MODULES]


def register():
    modules = _modules()
    preferences = modules[0]
    sections = [m.PREFERENCES for m in modules if hasattr(m, "PREFERENCES")]
    _registered[:] = [cls for m in modules for cls in getattr(m, "CLASSES", ())]
    _registered.append(preferences.make_class(sections))
    for cls in _registered:
        bpy.utils.register_class(cls)
    for module in modules:
        if hasattr(module, "register"):
            module.register()


def unregister():
    for module in reversed(_modules()):
        if hasattr(module, "unregister"):
            module.unregister()
    for cls in reversed(_registered):
        bpy.utils.unregister_class(cls)
    _registered.clear()
