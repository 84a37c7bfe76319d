"""FT202: PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) right after the module is created."""

from __future__ import annotations

import re

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.model import Finding
from extmigrate.tree import TUView

TEMPLATE = "module_gil_single_phase"


def _after_statement(ctx: FixContext, path: str, end: int) -> tuple[int, str]:
    """Insertion point after a statement: the next line if only blanks follow it, else right after."""
    src = ctx.source(path)
    line_end = ctx.line_end(path, end)
    if not src[end:line_end].strip():
        return line_end, ""
    return end, "\n"


@remedy("FT202")
def set_gil(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    d = f.data
    var, desc = d.get("module_var"), f"declare '{f.symbol}' free-threading compatible"
    if var and d.get("insert_after") is not None:
        create_start = d["create_stmt"][0]
        indent = ctx.indent(f.path, create_start)
        at, lead = _after_statement(ctx, f.path, d["insert_after"])
        text = lead + ctx.macro(TEMPLATE, "set_gil", var=var, indent=indent,
                                null_checked=d.get("null_check") is not None)
        return FixProposal("safe", desc, [Edit(f.path, at, at, text)], declaration=True)
    if d.get("returns_directly"):
        start, end = d["create_stmt"]
        stmt = ctx.text(f.path, start, end)
        m = re.fullmatch(r"return\s+(.*?)\s*;", stmt, re.S)
        if m is None or m.group(1) != ctx.text(f.path, d["start"], d["end"]):
            return NoFix("the created module is passed on before it is returned: call "
                         "PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) on it by hand")
        func = tu.function_at(f.path, start)
        body = ctx.text(f.path, func.start, func.end) if func else ""
        name = "module" if not re.search(r"\bmodule\b", body) else "extmigrate_module"
        text = ctx.macro(TEMPLATE, "from_return", var=name, create=m.group(1),
                         indent=ctx.indent(f.path, start))
        return FixProposal("safe", desc, [Edit(f.path, start, end, text)], declaration=True)
    return NoFix("the created module is not stored in a variable: call "
                 "PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) on it by hand")
