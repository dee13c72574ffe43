"""Explanation: Grad-CAM heatmaps, overlays and faithfulness figures (see :mod:`nas.explain.cam`)."""
from __future__ import annotations

from .cam import *  # noqa: F401,F403
from .cam import _CACHE, __all__, _baseline_images, _curves  # noqa: F401
