"""The thin Blender layer. Each feature module defines register()/unregister();
they are registered in this order and unregistered in reverse."""

import importlib

MODULES = [
    # filled in by the feature modules, e.g. "preferences", "stylize", "publish", "generate"
    "preferences",
    "runtime",
    "stylize",
    "canvas",
    "panels",
    "publish",
    "generate",
]


def _modules():
    return [importlib.import_module(f".{name}", __name__) for name in MODULES]


def register():
    for module in _modules():
        module.register()


def unregister():
    for module in reversed(_modules()):
        module.unregister()
