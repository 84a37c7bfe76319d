"""FT401 (and FT402 through move_allocation): switch an allocation to another allocator family,
with every realloc/free of the same variable or field in the translation unit."""

from __future__ import annotations

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.model import Finding
from extmigrate.rules.alloc_common import (DATA, FAMILIES, alloc_calls, call_args, decl_key,
                                           destination, strip)
from extmigrate.tree import TUView

# Written names whose arguments differ from malloc/calloc/realloc/free: never renamed.
DIFFERENT_SIGNATURE = {"PyMem_New", "PyMem_NEW", "PyMem_Resize", "PyMem_RESIZE", "strdup", "strndup",
                       "aligned_alloc", "reallocarray"}


def renamable(name: str, family: str) -> bool:
    return name not in DIFFERENT_SIGNATURE and not FAMILIES[family].get("typed")


def move_allocation(tu: TUView, f: Finding, ctx: FixContext, domain: str,
                    review: str = "") -> FixProposal | NoFix:
    d = f.data
    if not d.get("call_written") or not renamable(d["call"], d["family"]):
        return NoFix(f"{d['call']}() is written through a macro or takes other arguments than "
                     f"{d['replacement']}(): change it by hand")
    if ctx.text(f.path, d["call_start"], d["call_end"]) != d["call"]:
        return NoFix("the file changed since it was scanned; scan again")
    key, old = d.get("target_key"), d["family"]
    if not key:
        return NoFix("the memory is not stored in a variable or field: its frees cannot be followed")
    names = DATA["replacement"][domain]
    edits = [Edit(f.path, d["call_start"], d["call_end"], d["replacement"])]
    calls = alloc_calls(tu)
    this = next((a for a in calls if a.use.start == d["call_start"] and a.use.path == f.path), None)
    if this is None:
        return NoFix("the file changed since it was scanned; scan again")
    if this.role == "realloc":
        args = call_args(tu, this.node)
        source = decl_key(strip(tu, args[0])) if args else None
        if source is None or source[0] != key:
            what = f"'{source[1]}'" if source else "memory"
            return NoFix(f"{d['call']}() resizes {what} allocated elsewhere: it moves with that "
                         "allocation's fix")
    local = d.get("target_kind") == "var" and destination(tu, this.node).local
    for a in calls:
        if a is this:
            continue
        if a.role != "free":  # another allocation into the same place must move along
            dest = destination(tu, a.node)
            if dest.key == key and a.role == "alloc" and (not local or a.node.func is this.node.func):
                return NoFix(f"'{d['target']}' is also allocated by {a.name}() at line {a.use.line}: "
                             "move both by hand")
        if a.role == "alloc":
            continue
        args = call_args(tu, a.node)
        target = decl_key(strip(tu, args[0])) if args else None
        if target is None or target[0] != key or (local and a.node.func is not this.node.func):
            continue
        if a.family != old:
            return NoFix(f"'{d['target']}' is also released by {a.name}() at line {a.use.line}, "
                         "another family: fix that first")
        written = ctx.text(a.use.path, a.use.start, a.use.start + len(a.name)) == a.name
        if not written or not renamable(a.name, a.family):
            return NoFix(f"{a.name}() at line {a.use.line} is written through a macro: change it by hand")
        edits.append(Edit(a.use.path, a.use.start, a.use.start + len(a.name), names[a.role]))
    why = review or (f"; '{d['target']}' is not local: releases in other files are not seen, "
                     "check them" if not local else "")
    return FixProposal("unsafe" if why else "safe",
                       f"allocate '{d['target']}' with {d['replacement']}() and release it with "
                       f"{names['free']}(){why}", edits)


@remedy("FT401")
def buffer_to_mem(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    return move_allocation(tu, f, ctx, "mem")
