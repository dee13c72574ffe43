"""The one clock every record uses."""
from __future__ import annotations

import datetime as _dt


def now() -> str:
    """The current UTC time as an ISO 8601 string with milliseconds (what every record uses)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def parse(stamp: str) -> _dt.datetime:
    """A record's ISO 8601 time (as :func:`now` writes it) back as an aware datetime."""
    return _dt.datetime.fromisoformat(stamp)
