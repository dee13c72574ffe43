"""The run workbench: ``nas report RUN`` writes ``RUN/report.html``, one self-contained page about a search
(:func:`write_report`)."""
from __future__ import annotations

from .page import REPORT, render, write_report

__all__ = ["REPORT", "render", "write_report"]
