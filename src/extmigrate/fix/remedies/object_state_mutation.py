"""FT510: a critical section on self around each statement that writes self's fields."""

from __future__ import annotations

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.fix.stmt import Stmt, jumps_out, node_at, statement_of, wrap
from extmigrate.model import Finding
from extmigrate.tree import TUView

TEMPLATE = "object_state_mutation"


def _offset(ctx: FixContext, path: str, line: int, column: int) -> int:
    src = ctx.source(path)
    start = 0
    for _ in range(line - 1):
        start = src.index(b"\n", start) + 1
    return start + column - 1


@remedy("FT510")
def lock_self(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    obj = f.data.get("self")
    if not obj or not f.related:
        return NoFix("the write sites are not known")
    stmts = {}
    for site in f.related:
        if site.path != f.path:
            return NoFix("a write is in another file: fix it by hand")
        try:
            at = _offset(ctx, f.path, site.line, site.column)
        except ValueError:
            return NoFix("the file changed since it was scanned; scan again")
        node = node_at(tu, f.path, at)
        s = statement_of(tu, ctx, node) if node is not None else None
        if s is None or not s.expression:
            return NoFix(f"the write at line {site.line} is part of a condition, declaration or "
                         f"return: hold Py_BEGIN_CRITICAL_SECTION({obj}) around it by hand")
        if jumps_out(ctx, f.path, s.start, s.end):
            return NoFix(f"the write at line {site.line} jumps out of its statement")
        stmts.setdefault(s.start, s)
    runs: list[Stmt] = []
    for key in sorted(stmts):  # adjacent writes of one block share one section
        s, last = stmts[key], runs[-1] if runs else None
        if last and last.braced and s.braced and last.node.parent is s.node.parent and \
                not ctx.source(f.path)[last.end:s.start].strip():
            runs[-1] = Stmt(last.node, last.start, s.end, True, True)
        else:
            runs.append(s)
    edits = []
    for run in runs:
        for start, end, text in wrap(ctx, f.path, run, ctx.macro(TEMPLATE, "begin", obj=obj),
                                     ctx.macro(TEMPLATE, "end")):
            edits.append(Edit(f.path, start, end, text))
    return FixProposal("unsafe", f"write the fields of '{obj}' inside a critical section on it (each "
                                 "write on its own: keep related writes together by hand)", edits,
                       apis=["Py_BEGIN_CRITICAL_SECTION"])
