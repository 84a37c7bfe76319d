"""FT104: Py_BEGIN/END_CRITICAL_SECTION(dict) around the whole PyDict_Next loop; a loop that returns
or jumps out gets EXTMIGRATE_CS_BEGIN/END (extmigrate_compat.h), ended before every way out."""

from __future__ import annotations

import re

from extmigrate.analysis.text import blank_comments
from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.fix.ownership import exit_end
from extmigrate.model import Finding
from extmigrate.tree import K, TUView

TEMPLATE = "borrowed_dict_next"
_LEAVES = re.compile(r"\b(return|goto|Py_RETURN_\w+)\b")
_SIMPLE = re.compile(r"[A-Za-z_]\w*|-?\d+|NULL")


def _exits(tu: TUView, ctx: FixContext, f: Finding, start: int, text: str, cs: str) -> list[Edit] | NoFix:
    """The section ended before every return and every goto out of the loop (a `break` or
    `continue` of the loop itself reaches the end after it); a value is computed before."""
    if "longjmp" in text:
        return NoFix("the loop may longjmp out of the critical section: lock the container by hand")
    func = tu.function_at(f.path, start)
    rtype = func.cursor.result_type.spelling if func else "void"
    edits = []
    for m in _LEAVES.finditer(text):
        e = exit_end(text, m.start(), m.group(0))
        if e < 0:
            return NoFix("a return or goto in the loop could not be delimited")
        stmt = ctx.text(f.path, start + m.start(), start + e)
        if m.group(0) == "goto":
            label = re.fullmatch(r"goto\s+(\w+)\s*;", stmt)
            if label and re.search(rf"^\s*{label.group(1)}\s*:", text, re.M):
                continue  # a jump inside the loop
        chain = _END_CHAIN.search(text, 0, m.start())
        if chain:  # an inner loop's section already ends here: ours ends after every deeper one
            at = _chain_place(chain, cs)
            edits.append(Edit(f.path, start + at, start + at, ctx.macro(TEMPLATE, "end_only", cs=cs)))
            continue
        expr = re.fullmatch(r"return\s*(.*?)\s*;", stmt, re.S)
        if expr and expr.group(1) and not _SIMPLE.fullmatch(expr.group(1)):
            if rtype == "void":
                return NoFix("a void function returns a value inside the loop")
            new = ctx.macro(TEMPLATE, "leave_value", type=rtype, expr=expr.group(1), cs=cs)
        else:
            new = ctx.macro(TEMPLATE, "leave", stmt=stmt, cs=cs)
        edits.append(Edit(f.path, start + m.start(), start + e, new))
    return edits


_END = re.compile(r"EXTMIGRATE_CS_END\((extmigrate_cs(\d*))\);\s*")
_END_CHAIN = re.compile(r"(?:EXTMIGRATE_CS_END\(extmigrate_cs\d*\);\s*)+$")


def _depth(suffix: str) -> int:
    return int(suffix) if suffix else 1


def _chain_place(chain: re.Match, cs: str) -> int:
    """Where in a run of EXTMIGRATE_CS_END(...) before an exit ours goes: after the deeper ones
    (extmigrate_cs3 before extmigrate_cs2 before extmigrate_cs), sections end innermost first."""
    mine = _depth(cs[len("extmigrate_cs"):])
    for e in _END.finditer(chain.string, chain.start(), chain.end()):
        if _depth(e.group(2)) < mine:
            return e.start()
    return chain.end()


def _section_name(tu: TUView, path: str, start: int, end: int) -> str:
    """extmigrate_cs for an outermost loop, extmigrate_cs2 ... for one nested in N loops: the outer
    section's END before a return they share must not name the inner one (and the two fixes' edits
    of that return then differ: the outer one lands on the next run, around the inner's)."""
    depth = sum(1 for kind in (K.FOR_STMT, K.WHILE_STMT, K.DO_STMT) for n in tu.of_kind(kind)
                if n.path == path and n.start < start and end <= n.end)
    return f"extmigrate_cs{depth + 1 if depth else ''}"


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
    func = tu.function_at(f.path, start)
    cs = _section_name(tu, f.path, start, end)
    exits = _exits(tu, ctx, f, start, text, cs) if _LEAVES.search(text) else []
    if isinstance(exits, NoFix):
        return exits
    if not ctx.only_space_before(f.path, start):
        return NoFix("the loop shares its line with other code: lock the dict around it by hand")
    indent = ctx.indent(f.path, start)
    ls = ctx.line_start(f.path, start)
    begin, close = ("open", "close") if exits else ("begin", "end")
    edits = [Edit(f.path, ls, ls, ctx.macro(TEMPLATE, begin, container=container, indent=indent, cs=cs))]
    le = ctx.line_end(f.path, end)
    if src[end:le].strip():
        return NoFix("code follows the loop on its last line: lock the dict around it by hand")
    edits += exits + [Edit(f.path, le, le, ctx.macro(TEMPLATE, close, indent=indent, cs=cs))]
    after = blank_comments(ctx.text(f.path, end, func.end)) if func else ""
    used_after = [v for v in d.get("out", []) if v and re.search(rf"\b{re.escape(v)}\b", after)]
    note = (f"; {', '.join(used_after)} used after the loop: take strong references (Py_NewRef) "
            "inside it" if used_after else "")
    how = "; ended before each return or goto out of the loop" if exits else ""
    return FixProposal("unsafe" if used_after else "safe",
                       f"iterate '{container}' inside a critical section{how}{note}", edits,
                       apis=["EXTMIGRATE_CRITICAL_SECTION" if exits else "Py_BEGIN_CRITICAL_SECTION"])
