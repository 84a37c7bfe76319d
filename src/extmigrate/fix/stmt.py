"""Statements around a node, for remedies that wrap or rewrite a statement."""

from __future__ import annotations

import re
from dataclasses import dataclass

from extmigrate.analysis.text import blank_comments
from extmigrate.fix.base import FixContext
from extmigrate.tree import CASTS, K, Node, TUView

_EXPR_STMT = {K.BINARY_OPERATOR, K.COMPOUND_ASSIGNMENT_OPERATOR, K.UNARY_OPERATOR, K.CALL_EXPR,
              K.PAREN_EXPR, K.UNEXPOSED_EXPR} | CASTS
_MACRO_STMT = re.compile(r"[A-Za-z_]\w*\s*\(")
_KEYWORD = re.compile(r"(if|while|for|switch|return|do|sizeof)\b")
_JUMP = re.compile(r"\b(return|goto|break|continue|longjmp)\b")


@dataclass
class Stmt:
    node: Node
    start: int
    end: int  # just past its `;` (or closing brace)
    braced: bool  # the statement sits in a { } block (else: the lone body of an if/else)
    expression: bool  # an expression statement


def node_at(tu: TUView, path: str, start: int) -> Node | None:
    """The variable reference at `start`, else the outermost node starting there (a macro use)."""
    for n in tu.of_kind(K.DECL_REF_EXPR):
        if n.start == start and n.path == path:
            return n
    best = None
    for n in tu.nodes:
        if n.start == start and n.path == path and n.func is not None:
            if best is None or n in best.ancestors() or best.parent is None:
                best = n if best is None or n in best.ancestors() else best
    return best


def statement_of(tu: TUView, ctx: FixContext, node: Node) -> Stmt | None:
    """The statement holding node: a child of a block, or the unbraced body of an if/else."""
    cur = node
    while cur.parent is not None:
        p = cur.parent
        if p.kind == K.COMPOUND_STMT and p.start < cur.start:  # not a macro's own `do { ... }`
            braced = True
            break
        if p.kind == K.IF_STMT and p.start < cur.start and tu.children_of(p)[:1] != [cur]:
            braced = False
            break
        cur = p
    else:
        return None
    text = ctx.source(cur.path)
    end = cur.end
    if text[end - 1:end] not in (b";", b"}"):
        m = re.compile(rb"\s*;").match(text, end)
        if m is None:
            return None
        end = m.end()
    head = ctx.text(cur.path, cur.start, end)
    macro_stmt = bool(_MACRO_STMT.match(head)) and not _KEYWORD.match(head)
    return Stmt(cur, cur.start, end, braced, cur.kind in _EXPR_STMT or macro_stmt)


def jumps_out(ctx: FixContext, path: str, start: int, end: int) -> bool:
    return bool(_JUMP.search(blank_comments(ctx.text(path, start, end))))


def wrap(ctx: FixContext, path: str, s: Stmt, before: str, after: str) -> list[tuple[int, int, str]]:
    """(start, end, text) edits putting `before` / `after` lines around the statement, keeping
    indentation; an unbraced if/else body gets braces."""
    if not s.braced:
        return [(s.start, s.start, "{ " + before + " "), (s.end, s.end, " " + after + " }")]
    out = []
    if ctx.only_space_before(path, s.start):
        ls = ctx.line_start(path, s.start)
        out.append((ls, ls, ctx.indent(path, s.start) + before + "\n"))
    else:
        out.append((s.start, s.start, before + " "))
    le = ctx.line_end(path, s.end)
    rest = ctx.source(path)[s.end:le]
    if not rest.strip() and rest.endswith(b"\n"):
        # at the statement's end, not the next line's start: another fix's `before` there must
        # come after this `after` (locks never interleave)
        nl = "\r\n" if rest.endswith(b"\r\n") else "\n"
        at = s.end + len(rest) - len(nl)
        out.append((at, at, "\n" + ctx.indent(path, s.start) + after))
    else:
        out.append((s.end, s.end, " " + after))
    return out


def merge_adjacent(ctx: FixContext, path: str, stmts: list[Stmt]) -> list[Stmt]:
    """Statements in order, nested ones dropped, neighbours of one block (only blanks between)
    joined into one stretch."""
    runs: list[Stmt] = []
    for s in sorted(stmts, key=lambda s: (s.start, -s.end)):
        last = runs[-1] if runs else None
        if last and s.start < last.end:
            continue  # inside the previous stretch
        if last and last.braced and s.braced and last.node.parent is s.node.parent and \
                not ctx.source(path)[last.end:s.start].strip():
            runs[-1] = Stmt(last.node, last.start, s.end, True, last.expression and s.expression)
        else:
            runs.append(s)
    return runs
