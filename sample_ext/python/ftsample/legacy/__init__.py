"""The legacy build of ftsample's LRU cache: GIL-reliant, not migrated."""

from . import _lru
from ._lru import *  # noqa: F403

__all__ = [name for name in dir(_lru) if not name.startswith("_")]
