"""FT101 borrowed-list-item, FT102 borrowed-dict-item, FT103 borrowed-dict-setdefault,
FT105 borrowed-weakref, FT106 borrowed-import-module, FT107 borrowed-cell-get: the borrowed-reference
call becomes its strong-reference replacement and the new reference is owned (see fix/borrowed.py).
A PyList_GET_ITEM in a loop whose reference cannot be owned that way (a variable of the function
reused after the loop) gets the loop inside a critical section on the list instead."""

from __future__ import annotations

import re

from extmigrate.analysis.text import blank_comments
from extmigrate.fix.base import FixContext, FixProposal, NoFix, remedy
from extmigrate.fix.borrowed import strong_reference
from extmigrate.fix.remedies.borrowed_dict_next import lock_loop
from extmigrate.model import Finding
from extmigrate.tree import TUView


@remedy("FT101", "FT102", "FT103", "FT105", "FT106", "FT107")
def strong_or_locked(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    owned = strong_reference(tu, f, ctx)
    d = f.data
    if not isinstance(owned, NoFix) or d.get("remedy") != "replace-or-critical-section" or not d.get("loop"):
        return owned
    var, func = d.get("result_var"), tu.function_at(f.path, d["start"])
    if func is None or (var and _read_after(ctx.text(f.path, d["loop"][1], func.end), var)):
        return owned  # the borrowed item outlives the loop: a section around it would not cover it
    locked = lock_loop(tu, f, ctx)
    if isinstance(locked, NoFix):
        return owned
    return FixProposal("unsafe", f"{locked.description} (the items are used inside the loop only; "
                                 f"a strong reference was not possible: {owned.reason})",
                       locked.edits, apis=locked.apis)


def _read_after(text: str, var: str) -> bool:
    """Is `var`'s value read after the loop (its first later mention is not an assignment)?"""
    m = re.search(rf"(?<![\w>.]){re.escape(var)}\b(\s*=(?!=))?", blank_comments(text))
    return bool(m) and not m.group(1)
