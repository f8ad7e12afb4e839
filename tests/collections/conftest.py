import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny nets run fastest on one thread, and the test suite shares the machine's cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# the publish area's real fault-injecting IPFS server and fast-retry backends, for batch publishing
# the add-on area's real extension, installed by Blender's own installer into a throw-away profile
from ..addon.conftest import blender, extension_zip, scene  # noqa: F401
from ..publish.conftest import backend_for, ledger, server, sleeps  # noqa: F401
