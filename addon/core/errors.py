"""Errors meant for the user, shared by the worker, the pipeline, publishing and the Blender layer.

A leaf module (it imports nothing of NFTGan): every layer can raise and catch these without importing
the module that happens to raise them. A `UserError`'s message is shown as it is (no traceback): the
worker reports it unchanged, the command line prints it and exits 1, an operator reports it as an error.
"""


class UserError(Exception):
    """An error whose message is meant for the user as it is (no traceback shown)."""


class Cancelled(Exception):
    """Raised inside a job when it has been cancelled."""


class ImageError(UserError, ValueError):
    """An image that cannot be used, with a message a user can act on."""


class MetadataError(UserError, ValueError):
    """Metadata that a marketplace would reject; the message lists every problem."""


class PublishError(UserError):
    """A publishing failure with a message meant for the user as it is (the worker shows it unchanged)."""


class TokenRejected(PublishError):
    """The service refused the API token (401 / 403)."""
