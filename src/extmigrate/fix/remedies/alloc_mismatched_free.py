"""FT403: release (or resize) memory with the family that allocated it."""

from __future__ import annotations

import re

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.fix.remedies.alloc_object_domain_buffer import renamable
from extmigrate.model import Finding
from extmigrate.tree import TUView

_FUNCTION_NAME = re.compile(r"[A-Za-z_]\w*")


@remedy("FT403")
def matching_free(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    d = f.data
    right = d.get("replacement", "")
    if not right:
        return NoFix(f"'{d['target']}' comes from several allocator families: make them one first")
    if not _FUNCTION_NAME.fullmatch(right):
        return NoFix(f"release it with {right}: the type's slot, written by hand")
    if not d.get("call_written") or not renamable(d["call"], d["family"]):
        return NoFix(f"{d['call']}() is written through a macro: change it by hand")
    if ctx.text(f.path, d["call_start"], d["call_end"]) != d["call"]:
        return NoFix("the file changed since it was scanned; scan again")
    verb = "resize" if d.get("role") == "realloc" else "release"
    return FixProposal("safe", f"{verb} '{d['target']}' with {right}() like its {d['alloc_call']}() "
                               "allocation", [Edit(f.path, d["call_start"], d["call_end"], right)])
