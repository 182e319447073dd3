"""Alliance: measure and strengthen the client-therapist relationship.

The names in ``__all__`` are the pinned public API for notebooks and scripts; everything else
may change between minor versions.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
