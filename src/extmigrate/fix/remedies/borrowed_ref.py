"""FT101 borrowed-list-item, FT102 borrowed-dict-item, FT103 borrowed-dict-setdefault,
FT105 borrowed-weakref, FT106 borrowed-import-module, FT107 borrowed-cell-get: the borrowed-reference
call becomes its strong-reference replacement and the new reference is owned (see fix/borrowed.py)."""

from __future__ import annotations

from extmigrate.fix.base import remedy
from extmigrate.fix.borrowed import strong_reference

remedy("FT101", "FT102", "FT103", "FT105", "FT106", "FT107")(strong_reference)
