"""Fixtures shared with other areas, so these tests run on the same real parts:
- one torch thread (tests/training): tiny nets run fastest on one thread on a shared machine;
- the publish area's real fault-injecting IPFS server and fast-retry backends (batch publishing);
- the add-on area's real extension, installed by Blender's own installer into a throw-away profile."""

from ..addon.conftest import blender, extension_zip, scene  # noqa: F401
from ..publish.conftest import backend_for, ledger, server, sleeps  # noqa: F401

try:  # the Blender test venvs have no torch (test_generate_blender.py trains nothing)
    from ..training.conftest import one_thread  # noqa: F401
except ModuleNotFoundError:
    pass
