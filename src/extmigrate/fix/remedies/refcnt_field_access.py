"""FT502: direct ob_refcnt access -> Py_REFCNT / Py_SET_REFCNT / Py_INCREF / Py_DECREF."""

from __future__ import annotations

import re

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.model import Finding
from extmigrate.tree import TUView

_BY_ONE = re.compile(r"(\+\+|--)|[+-]=\s*1[uUlL]*\s*$|[+-]\s*1[uUlL]*\s*\)\s*$")


@remedy("FT502")
def refcnt_api(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    d = f.data
    start, end = d.get("expr_start", -1), d.get("expr_end", -1)
    if not d.get("written") or not d.get("replacement") or start < 0:
        return NoFix("the access comes from a macro or a file that no longer parses: change it by hand")
    text = ctx.text(f.path, start, end)
    if "refcnt" not in text.lower() and "REFCNT" not in text:
        return NoFix("the file changed since it was scanned; scan again")
    access = d["access"]
    if access == "read":
        return FixProposal("safe", "read the count with Py_REFCNT()",
                           [Edit(f.path, start, end, d["replacement"])])
    if access in ("increment", "decrement") and not _BY_ONE.search(text):
        return NoFix("the count changes by more than one: use Py_INCREF/Py_DECREF in a loop or "
                     "rethink the code")
    how = {"write": "Py_SET_REFCNT() (still not atomic: review)",
           "increment": "Py_INCREF()", "decrement": "Py_DECREF() (deallocates at zero: review)"}[access]
    return FixProposal("unsafe", f"change the count with {how}",
                       [Edit(f.path, start, end, d["replacement"])],
                       apis=["Py_SET_REFCNT"] if access == "write" else [])
