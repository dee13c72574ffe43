"""``python -m nas``: the ``nas`` command line (see :mod:`nas.cli`)."""
import sys

from .cli import main

sys.exit(main())
