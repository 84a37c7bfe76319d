"""FT303: a static scratch buffer becomes thread-local (one buffer per thread)."""

from __future__ import annotations

import re

from extmigrate.analysis.text import blank_comments
from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.model import Finding
from extmigrate.tree import TUView

_STATIC = re.compile(r"\bstatic\b")


@remedy("FT303")
def thread_local_buffer(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    decl = f.data["decl"]
    name = f.data["variable"]
    head = blank_comments(ctx.text(decl["path"], decl["start"], decl["end"]))
    head = head.split("=", 1)[0]
    if not re.search(rf"\b{re.escape(name)}\b", head):
        return NoFix("the file changed since it was scanned; scan again")
    if "," in head.split("[", 1)[0]:
        return NoFix(f"'{name}' is declared together with other variables: split the declaration first")
    m = _STATIC.search(head)
    if m is None:
        return NoFix(f"'{name}' has external linkage: other files may use it; make it thread-local "
                     "(or pass a buffer) by hand")
    at = decl["start"] + len(head[:m.end()].encode("utf-8"))
    text = " " + ctx.render("static_scratch_buffer").strip()
    safe = f.data.get("scope") == "function"
    return FixProposal("safe" if safe else "unsafe",
                       f"give each thread its own '{name}' buffer (thread-local storage)"
                       + ("" if safe else "; its contents no longer carry over between threads"),
                       [Edit(decl["path"], at, at, text)], apis=["EXTMIGRATE_THREAD_LOCAL"])
