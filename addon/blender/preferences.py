"""The add-on preferences: one AddonPreferences class made of the features' sections.

A feature with settings defines a section: a plain class whose annotations are its properties and whose
`draw_section(prefs, layout)` draws them (`prefs` is the preferences object). The add-on's register()
passes the features' sections, in order, to `make_class()`, so this module imports no feature.
"""

import bpy
from bpy.types import AddonPreferences

ADDON_ID = __package__.rpartition(".")[0]  # "bl_ext.<repo>.nftgan"


def get(context=None):
    """The add-on's preferences, or None while it is not enabled."""
    addon = (context or bpy.context).preferences.addons.get(ADDON_ID)
    return addon.preferences if addon else None


def make_class(sections: list[type]) -> type:
    """The AddonPreferences class with every section's properties, drawing the sections in order."""

    def draw(self, _context):
        for section in sections:
            section.draw_section(self, self.layout)

    return type("NFTGanPreferences", (*sections, AddonPreferences), {"bl_idname": ADDON_ID, "draw": draw})
