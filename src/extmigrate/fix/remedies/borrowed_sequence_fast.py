"""FT108: the loop reading PySequence_Fast items inside a critical section on the sequence (a list
other threads can change; for a tuple the section costs nothing), as FT104 does for PyDict_Next."""

from __future__ import annotations

from extmigrate.fix.base import remedy
from extmigrate.fix.remedies.borrowed_dict_next import lock_loop

remedy("FT108")(lock_loop)
