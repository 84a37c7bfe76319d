"""FT503: a hand-written GIL-build object header -> PyObject_HEAD_INIT(type) in a struct, the compat
header's EXTMIGRATE_OBJECT_INIT(type) for a whole PyObject (PyObject_HEAD_INIT ends in a comma)."""

from __future__ import annotations

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.model import Finding
from extmigrate.tree import TUView


@remedy("FT503")
def head_init(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    d = f.data
    start, end = d["edit_start"], d["edit_end"]
    old = ctx.text(f.path, start, end)
    if d["type"] not in old:
        return NoFix("the file changed since it was scanned; scan again")
    typ = d["type"]
    if d["form"] == "object":
        return FixProposal("safe", "initialise the object with EXTMIGRATE_OBJECT_INIT() (immortal on 3.13+)",
                           [Edit(f.path, start, end, f"EXTMIGRATE_OBJECT_INIT({typ})")],
                           apis=["EXTMIGRATE_OBJECT_INIT"])
    after = ctx.source(f.path)[end:end + 1]
    text = f"PyObject_HEAD_INIT({typ})" + ("" if after in (b" ", b"\t", b"\n", b"\r") else " ")
    return FixProposal("safe", "initialise the header with PyObject_HEAD_INIT() (immortal on 3.13+)",
                       [Edit(f.path, start, end, text)])
