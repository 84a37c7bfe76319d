"""FT302: hold a PyMutex over the check-then-set, unlocking before every return inside it."""

from __future__ import annotations

import re

from extmigrate.analysis.text import blank_comments
from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.fix.remedies.static_mutable_global import TEMPLATE as LOCK_TEMPLATE
from extmigrate.fix.remedies.static_mutable_global import lock_declaration, lock_name, unlock_return, write_statements
from extmigrate.fix.stmt import Stmt, wrap
from extmigrate.model import Finding
from extmigrate.tree import TUView

_OTHER_JUMP = re.compile(r"\b(goto|break|continue|longjmp)\b")
_RETURN = re.compile(r"\breturn\b[^;]*;")


def _null_checked(cond_text: str, name: str) -> bool:
    v = re.escape(name)
    c = re.sub(r"\s+", "", cond_text)
    return bool(re.fullmatch(rf"\(*!{v}\)*|\(*{v}==(NULL|0|nullptr)\)*|\(*(NULL|0|nullptr)=={v}\)*", c))


@remedy("FT302")
def lock_lazy_init(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    name, path = f.data["variable"], f.data["decl"]["path"]
    lazy = f.data["lazy"]
    if any(x["path"] != path for x in lazy):
        return NoFix(f"'{name}' is initialised in another file too: fix it by hand")
    lock = lock_name(ctx, f)
    first = min([x["start"] for x in lazy] + [w["start"] for w in f.data["writes"] if w["path"] == path])
    edits = [lock_declaration(tu, ctx, f, lock, first)]
    for x in lazy:
        text = blank_comments(ctx.text(path, x["start"], x["end"]))
        m = re.match(r"if\s*\(", text)
        close = _close(text, m.end() - 1) if m else -1
        if close < 0 or not _null_checked(text[m.end() - 1:close + 1], name):
            return NoFix(f"the check at line {x['line']} is not `if ({name} == NULL)`: make the "
                         "initialisation a once-initialisation by hand (or move it to module exec)")
        if _OTHER_JUMP.search(text):
            return NoFix(f"the initialisation at line {x['line']} jumps out with goto/break/continue: "
                         "the lock could stay held")
        end = x["end"] if ctx.source(path)[x["end"] - 1:x["end"]] in (b";", b"}") else \
            ctx.source(path).find(b";", x["end"]) + 1
        s = Stmt(None, x["start"], end, True, True)
        pairs = wrap(ctx, path, s, ctx.macro(LOCK_TEMPLATE, "lock", lock=lock),
                     ctx.macro(LOCK_TEMPLATE, "unlock", lock=lock))
        edits.append(Edit(path, *pairs[0]))
        for r in _RETURN.finditer(text):
            if r.start() > close:
                ret = ctx.text(path, x["start"] + r.start(), x["start"] + r.end())
                unlock = unlock_return(tu, ctx, path, x["start"], lock, ret, name)
                if isinstance(unlock, NoFix):
                    return unlock
                edits.append(Edit(path, x["start"] + r.start(), x["start"] + r.end(), unlock))
        edits.append(Edit(path, *pairs[1]))
    inside = [(x["start"], x["end"]) for x in lazy]
    others = dict(f.data, writes=[w for w in f.data["writes"]
                                  if not any(a <= w["start"] < b for a, b in inside)])
    stmts = write_statements(tu, ctx, Finding(**{**f.__dict__, "data": others})) if others["writes"] else []
    if isinstance(stmts, NoFix):
        return stmts
    for s in stmts:
        for start, end, text in wrap(ctx, path, s, ctx.macro(LOCK_TEMPLATE, "lock", lock=lock),
                                     ctx.macro(LOCK_TEMPLATE, "unlock", lock=lock)):
            edits.append(Edit(path, start, end, text))
    return FixProposal("unsafe", f"initialise '{name}' once under a PyMutex (the initialiser must not "
                                 "call back into this function)", edits, apis=["PyMutex"])


def _close(text: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1
