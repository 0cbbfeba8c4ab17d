"""The olmix config forms, by name: one enum for the library and the command line.

Kept apart from `dialects` (which reads and writes them) so that the command line can
offer the names without loading pydantic at start-up.
"""

from __future__ import annotations

from enum import StrEnum


class Dialect(StrEnum):
    """The olmix config forms qupsample reads and writes."""

    FLAT = "flat"
    LAUNCH = "launch"
    GENERATION = "generation"


__all__ = ["Dialect"]
