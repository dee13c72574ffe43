"""Datasets (a package since nas/data.py was split): this step only moves the module to :mod:`nas.data.core`."""
from .core import *  # noqa: F401,F403
from .core import IMAGE_SUFFIXES, __all__  # noqa: F401
