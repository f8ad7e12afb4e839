"""Drawing helpers shared by the panels and the preferences."""

from __future__ import annotations

import textwrap


class ImageEditorSidebar:
    """Mixin for NFTGan panels in the Image Editor's sidebar (N), tab "NFTGan"."""

    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "NFTGan"


def wrap(text: str, width: int) -> list[str]:
    """`text` as lines of at most `width` characters (Blender's labels do not wrap)."""
    return textwrap.wrap(text, width) or [""]


def clip(text: str, width: int, lines: int) -> list[str]:
    """`text` wrapped to `width`, at most `lines` lines: where it is cut the last line ends with "…", so a
    cut never reads as the whole text."""
    wrapped = wrap(text, width)
    if len(wrapped) <= lines:
        return wrapped
    last = wrap(wrapped[lines - 1], width - 2)[0]
    return [*wrapped[: lines - 1], last.rstrip(" ,;:(-") + " …"]
