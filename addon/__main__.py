"""`python -m nftgan`: the `nftgan` command (left out of the Blender extension, which has no CLI)."""

import sys

from .export.cli import main

sys.exit(main())
