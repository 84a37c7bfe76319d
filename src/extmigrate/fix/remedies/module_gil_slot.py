"""FT201: add {Py_mod_gil, Py_MOD_GIL_NOT_USED} before the slot array's terminating entry."""

from __future__ import annotations

import re

from extmigrate.analysis.text import blank_comments
from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.model import Finding
from extmigrate.tree import TUView

_END_ENTRY = re.compile(r"\{\s*0\s*,\s*(?:NULL|0|nullptr|\(\s*void\s*\*\s*\)\s*0)\s*\}")


@remedy("FT201")
def declare_slot(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    start, end = f.data["start"], f.data["end"]
    text = blank_comments(ctx.text(f.path, start, end))
    ends = list(_END_ENTRY.finditer(text))
    if not ends:
        return NoFix("the slot array has no {0, NULL} terminator to insert before")
    at = start + len(text[:ends[-1].start()].encode("utf-8"))
    if ctx.only_space_before(f.path, at):
        pos = ctx.line_start(f.path, at)
        snippet = ctx.render("module_gil_slot", indent=ctx.indent(f.path, at))
    else:  # terminator shares a line with other entries: directives need their own lines
        pos = at
        snippet = "\n" + ctx.render("module_gil_slot", indent="") + ctx.indent(f.path, at)
    return FixProposal("safe", f"declare '{f.symbol}' free-threading compatible (Py_MOD_GIL_NOT_USED)",
                       [Edit(f.path, pos, pos, snippet)], declaration=True)
