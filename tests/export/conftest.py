"""The add-on area's real extension, installed by Blender's own installer into a throw-away profile, for the
Blender test of a user's own styles (test_user_styles_blender.py)."""

from ..addon.conftest import blender, extension_zip, scene  # noqa: F401
