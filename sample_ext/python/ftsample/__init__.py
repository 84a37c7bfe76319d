"""ftsample: a small LRU cache extension, the proof sample of extmigrate.

``ftsample.legacy._lru`` is always built from src/legacy/_lru.c.
``ftsample._lru`` is built from src/migrated/_lru.c when that file exists
(the output of ``extmigrate fix --apply``). The names exported here come
from the migrated module when it was built, else from the legacy one;
``MIGRATED`` tells which.
"""

import importlib

try:
    _lru = importlib.import_module("._lru", __name__)
except ModuleNotFoundError as exc:
    if exc.name != f"{__name__}._lru":
        raise
    from .legacy import _lru

MIGRATED = _lru.__name__ == f"{__name__}._lru"

DEFAULT_MAXSIZE = _lru.DEFAULT_MAXSIZE
SCRATCH_SIZE = _lru.SCRATCH_SIZE
LRUCache = _lru.LRUCache
calls = _lru.calls
from_config = _lru.from_config
hits = _lru.hits
join_keys = _lru.join_keys
tokenize = _lru.tokenize

__all__ = [
    "DEFAULT_MAXSIZE",
    "MIGRATED",
    "SCRATCH_SIZE",
    "LRUCache",
    "calls",
    "from_config",
    "hits",
    "join_keys",
    "tokenize",
]
