"""FT104: Py_BEGIN/END_CRITICAL_SECTION(dict) around the whole PyDict_Next loop."""

from __future__ import annotations

import re

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.model import Finding
from extmigrate.regions import blank_comments
from extmigrate.tree import TUView

TEMPLATE = "borrowed_dict_next"
_LEAVES = re.compile(r"\b(return|goto|longjmp|Py_RETURN_\w+)\b")


def _breaks_out(body: str) -> bool:
    """A `break` / `continue` of the loop itself stays inside the section; return/goto leave it."""
    return bool(_LEAVES.search(body))


@remedy("FT104")
def lock_loop(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    d = f.data
    loop, container = d.get("loop"), d.get("container")
    if not loop or not container:
        return NoFix(f"{d.get('api', 'the call')} is not inside a loop: hold a critical section on "
                     "the container around the use by hand")
    start, end = loop
    src = ctx.source(f.path)
    if src[end - 1:end] not in (b"}", b";"):
        m = re.compile(rb"\s*;").match(src, end)
        end = m.end() if m else end
    text = blank_comments(ctx.text(f.path, start, end))
    if not re.match(r"(while|for|do)\b", text):
        return NoFix("the loop has an unexpected shape; lock the dict around it by hand")
    if _breaks_out(text):
        return NoFix("the loop returns or jumps out of its body: it would leave the critical section "
                     "held; restructure it (set a status, break, test after the loop)")
    if not ctx.only_space_before(f.path, start):
        return NoFix("the loop shares its line with other code: lock the dict around it by hand")
    indent = ctx.indent(f.path, start)
    ls = ctx.line_start(f.path, start)
    edits = [Edit(f.path, ls, ls, ctx.macro(TEMPLATE, "begin", container=container, indent=indent))]
    le = ctx.line_end(f.path, end)
    if src[end:le].strip():
        return NoFix("code follows the loop on its last line: lock the dict around it by hand")
    edits.append(Edit(f.path, le, le, ctx.macro(TEMPLATE, "end", indent=indent)))
    func = tu.function_at(f.path, start)
    after = blank_comments(ctx.text(f.path, end, func.end)) if func else ""
    used_after = [v for v in d.get("out", []) if v and re.search(rf"\b{re.escape(v)}\b", after)]
    note = (f"; {', '.join(used_after)} used after the loop: take strong references (Py_NewRef) "
            "inside it" if used_after else "")
    return FixProposal("unsafe" if used_after else "safe",
                       f"iterate '{container}' inside a critical section{note}", edits,
                       apis=["Py_BEGIN_CRITICAL_SECTION"])
