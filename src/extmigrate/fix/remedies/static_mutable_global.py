"""FT301: counters -> atomic adds; other state -> a static PyMutex held around every write."""

from __future__ import annotations

import re

from extmigrate import cursors
from extmigrate.analysis import callgraph
from extmigrate.analysis.text import blank_comments
from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.fix.stmt import Stmt, jumps_out, merge_adjacent, node_at, statement_of, wrap
from extmigrate.model import Finding
from extmigrate.tree import K, TUView

TEMPLATE = "static_mutable_global"
_RETURN = re.compile(r"\breturn\b[^;]*;")
_OTHER_JUMP = re.compile(r"\b(goto|break|continue|longjmp|Py_RETURN_\w+)\b")
_FUNCTION_OR_LOOP = {K.FUNCTION_DECL, K.CXX_METHOD, K.FOR_STMT, K.WHILE_STMT, K.DO_STMT, K.SWITCH_STMT}
_INTEGER = re.compile(r"(?:(?:static|volatile|unsigned|signed|const)\s+)*(?:char|short|int|long|"
                      r"long\s+long|long\s+int|size_t|Py_ssize_t|ssize_t|u?int(?:8|16|32|64|ptr|max)_t|"
                      r"Py_hash_t|Py_uhash_t)")


def write_statements(tu: TUView, ctx: FixContext, f: Finding) -> list[Stmt] | NoFix:
    """The statements holding the finding's write sites (one per statement), or why not."""
    name = f.data["variable"]
    stmts: dict[int, Stmt] = {}
    for w in f.data["writes"]:
        if w["path"] != f.data["decl"]["path"]:
            return NoFix(f"'{name}' is written in another file too ({w['path']}): fix it by hand")
        site = ctx.text(w["path"], w["start"], max(w["end"], ctx.line_end(w["path"], w["start"])))
        if not re.search(rf"\b{re.escape(name)}\b", site):
            return NoFix("the file changed since it was scanned; scan again")
        node = node_at(tu, w["path"], w["start"])
        s = statement_of(tu, ctx, node) if node is not None else None
        if s is None or not s.expression:
            line = w["line"]
            return NoFix(f"the write at line {line} is part of a condition, declaration or return: "
                         "wrapping it in a lock needs a hand-written change")
        if jumps_out(ctx, w["path"], s.start, s.end):
            return NoFix(f"the write at line {w['line']} jumps out of its statement")
        stmts.setdefault(s.start, s)
    return [stmts[k] for k in sorted(stmts)]


def unlock_return(tu: TUView, ctx: FixContext, path: str, at: int, lock: str, ret: str,
                  name: str) -> str | NoFix:
    """`return X;` inside a locked stretch -> unlock first; a value that is not a constant or a
    local (the guarded variable counts as shared) is computed before the unlock."""
    m = re.fullmatch(r"return\s*(.*?)\s*;", ret, re.S)
    expr = m.group(1) if m else ""
    if not expr or (re.fullmatch(r"[A-Za-z_]\w*|-?\d+|NULL", expr) and expr != name):
        return ctx.macro(TEMPLATE, "unlock_return", lock=lock, ret=ret)
    func = tu.function_at(path, at)
    if func is None or func.cursor.result_type.spelling == "void":
        return NoFix("a return inside the locked code has an unexpected shape")
    return ctx.macro(TEMPLATE, "unlock_return_value", lock=lock, expr=expr,
                     type=func.cursor.result_type.spelling)


def _counter_edits(ctx: FixContext, f: Finding, stmts: list[Stmt]) -> list[Edit] | None:
    """`n++;`, `--n;`, `n += e;`, `n -= e;` -> EXTMIGRATE_ATOMIC_ADD(&n, delta); None if not all so."""
    name = re.escape(f.data["variable"])
    if f.data.get("kind") != "counter" or not _INTEGER.fullmatch(f.data.get("type", "").strip()):
        return None
    out = []
    for s in stmts:
        text = blank_comments(ctx.text(f.path, s.start, s.end)).strip()
        m = re.fullmatch(rf"(?:(\+\+|--)\s*{name}|{name}\s*(\+\+|--))\s*;", text)
        if m:
            delta = "1" if "+" in (m.group(1) or m.group(2)) else "-1"
        else:
            m = re.fullmatch(rf"{name}\s*([+-])=\s*(.+?)\s*;", text, re.S)
            if m is None:
                return None
            delta = m.group(2) if m.group(1) == "+" else f"-({m.group(2)})"
        out.append(Edit(f.path, s.start, s.end, ctx.macro(TEMPLATE, "atomic_add", var=f.data["variable"],
                                                          delta=delta)))
    return out


def _counter_reads(tu: TUView, ctx: FixContext, f: Finding, stmts: list[Stmt]) -> list[Edit] | None:
    """The counter's other uses in its file, which must be plain reads -> EXTMIGRATE_ATOMIC_LOAD(&n):
    an atomic add beside a plain read is still a data race. None when a use is anything else (its
    address taken, a write the finding does not list, a use inside a macro), or the variable can
    be used from other files: the reads then stay for the reviewer."""
    name, decl = f.data["variable"], f.data["decl"]
    var = next((v for v in tu.of_kind(K.VAR_DECL)
                if v.path == decl["path"] and v.start == decl["start"] and v.spelling == name), None)
    if var is None or cursors.linkage(var.cursor) != cursors.INTERNAL:
        return None
    target = cursors.decl_id(var.cursor)
    rewritten = [(s.start, s.end) for s in stmts]
    out = []
    for node, ref in callgraph.decl_refs(tu):
        if ref.spelling != name or cursors.decl_id(ref) != target:
            continue
        path, start, end = node.extent()[:3]
        if any(a <= start < b for a, b in rewritten):
            continue  # one of the atomic adds
        if path != f.path or ctx.text(path, start, end) != name:
            return None
        _, up = callgraph.climb(tu, node)  # past parentheses and implicit conversions
        if up is not None and up.kind == K.UNARY_OPERATOR and \
                re.match(r"\s*(&|\+\+|--)|.*(\+\+|--)\s*$", blank_comments(tu.node_text(up)), re.S):
            return None
        if up is not None and (up.kind == K.COMPOUND_ASSIGNMENT_OPERATOR or (
                up.kind == K.BINARY_OPERATOR and cursors.binary_op(up.cursor) == cursors.ASSIGN
                and tu.children_of(up)[:1] and start == tu.children_of(up)[0].start)):
            return None
        out.append(Edit(path, start, end, ctx.macro(TEMPLATE, "atomic_load", var=name)))
    return out


def lock_declaration(tu: TUView, ctx: FixContext, f: Finding, lock: str, first_use: int) -> Edit:
    """`static PyMutex <lock>;` beside the variable's definition, or, when a function of the file
    uses the variable before it is defined there (declared `extern` in a header), before that function."""
    decl = f.data["decl"]
    at, indent = ctx.line_start(f.path, decl["start"]), ctx.indent(f.path, decl["start"])
    if first_use < at:
        func = tu.function_at(f.path, first_use)
        if func is not None and func.start < at:
            at, indent = ctx.line_start(f.path, func.start), ""
    return Edit(f.path, at, at, ctx.macro(TEMPLATE, "lock_decl", lock=lock, var=f.data["variable"], indent=indent))


def lock_name(ctx: FixContext, f: Finding) -> str:
    text = ctx.source(f.path).decode("utf-8", "replace")
    base = f"{f.data['variable']}_lock"
    name, n = base, 2
    while re.search(rf"\b{re.escape(name)}\b", text):
        name, n = f"{base}{n}", n + 1
    return name


@remedy("FT301")
def guard_writes(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    stmts = write_statements(tu, ctx, f)
    if isinstance(stmts, NoFix):
        return stmts
    var = f.data["variable"]
    atomic = _counter_edits(ctx, f, stmts)
    if atomic:
        reads = _counter_reads(tu, ctx, f, stmts)
        if reads is None:
            return FixProposal("safe", f"make the updates of counter '{var}' atomic (its other uses "
                                       "stay as they are: review them)", atomic, apis=["EXTMIGRATE_ATOMIC"])
        return FixProposal("safe", f"make the updates and reads of counter '{var}' atomic",
                           atomic + reads, apis=["EXTMIGRATE_ATOMIC"])
    lock = lock_name(ctx, f)
    edits = [lock_declaration(tu, ctx, f, lock, min(s.start for s in stmts))]
    for unit in merge_adjacent(ctx, f.path, [_check_and_act(tu, ctx, s, var) for s in stmts]):
        for start, end, text in wrap(ctx, f.path, unit, ctx.macro(TEMPLATE, "lock", lock=lock),
                                     ctx.macro(TEMPLATE, "unlock", lock=lock)):
            edits.append(Edit(f.path, start, end, text))
        if not unit.expression:  # a whole `if`: its returns unlock first
            body = blank_comments(ctx.text(f.path, unit.start, unit.end))
            for r in _RETURN.finditer(body):
                ret = ctx.text(f.path, unit.start + r.start(), unit.start + r.end())
                text = unlock_return(tu, ctx, f.path, unit.start, lock, ret, var)
                if isinstance(text, NoFix):
                    return text
                edits.append(Edit(f.path, unit.start + r.start(), unit.start + r.end(), text))
    return FixProposal("unsafe", f"guard the writes of '{var}' with a PyMutex, with the tests that decide "
                                 "them (other reads stay unguarded: review them)", edits, apis=["PyMutex"])


def _check_and_act(tu: TUView, ctx: FixContext, s: Stmt, var: str) -> Stmt:
    """The outermost `if` around the write whose condition reads the variable (check-then-act),
    when it neither loops nor jumps elsewhere; else the write's own statement."""
    best = None
    word = re.compile(rf"\b{re.escape(var)}\b")
    for anc in s.node.ancestors():
        if anc.kind in _FUNCTION_OR_LOOP:
            break
        if anc.kind == K.IF_STMT:
            kids = tu.children_of(anc)
            if kids and word.search(blank_comments(tu.node_text(kids[0]))):
                best = anc
    if best is None:
        return s
    unit = statement_of(tu, ctx, best)
    if unit is None or _OTHER_JUMP.search(blank_comments(ctx.text(s.node.path, unit.start, unit.end))):
        return s
    return Stmt(unit.node, unit.start, unit.end, unit.braced, False)
