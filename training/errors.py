"""The errors library code in training/ and export/ raises for problems the user can fix.

`UserError` is NFTGan's one user-facing error type (`nftgan.core.errors`, a leaf module shared by every
layer). Training and export raise it or a subclass: `data.DataError`, `checkpoint.CheckpointError`,
`ConfigError` (below), `evaluate.EvalError`, `export.onnx_export.ExportError`, each with a message that
says what is wrong and what to do about it. Library functions never exit the process: only the
command-line entry points (`main(argv, prog)`) catch these, print `PROG: error: MESSAGE` on stderr and
return an exit code.
"""

from __future__ import annotations

from nftgan.core.errors import UserError

__all__ = ["ConfigError", "UserError"]


class ConfigError(UserError, ValueError):
    """Settings a model kind, its networks or this machine cannot train with."""
