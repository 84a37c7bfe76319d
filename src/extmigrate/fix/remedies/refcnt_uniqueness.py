"""FT501: `Py_REFCNT(o) == 1` -> PyUnstable_Object_IsUniquelyReferenced(o) (compat header below 3.14)."""

from __future__ import annotations

import re

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.model import Finding
from extmigrate.tree import TUView


@remedy("FT501")
def unique_test(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    d = f.data
    if not d.get("written") or not d.get("replacement"):
        return NoFix("the comparison comes from a macro: change the macro by hand")
    text = ctx.text(f.path, d["cmp_start"], d["cmp_end"])
    if not re.search(r"\bPy_REFCNT\b|\bob_refcnt\b", text):
        return NoFix("the file changed since it was scanned; scan again")
    return FixProposal("safe", f"test uniqueness with {d['api']}()",
                       [Edit(f.path, d["cmp_start"], d["cmp_end"], d["replacement"])], apis=[d["api"]])
