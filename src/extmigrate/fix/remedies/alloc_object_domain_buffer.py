"""FT401 (and FT402 through move_allocation): switch an allocation to another allocator family,
with every realloc/free of the same variable or field in the translation unit."""

from __future__ import annotations

import re

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.model import Finding
from extmigrate.rules.alloc_common import (DATA, FAMILIES, alloc_calls, call_args, decl_key,
                                           destination, strip)
from extmigrate.tree import K, TUView

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
    if local and _returned(tu, this.node.func, d["target"]):
        paired = _class_releases(tu, this, calls)
        for a in paired:
            if a.family != old:
                return NoFix(f"{a.name}() at line {a.use.line} releases it with another family: "
                             "fix that first")
            if ctx.text(a.use.path, a.use.start, a.use.start + len(a.name)) != a.name or \
                    not renamable(a.name, a.family):
                return NoFix(f"{a.name}() at line {a.use.line} is written through a macro: change it by hand")
            edits.append(Edit(a.use.path, a.use.start, a.use.start + len(a.name), names["free"]))
        review = review or (f"; {paired[0].use.function_name}() of the same class releases what "
                            f"{this.use.function_name}() returns: releases elsewhere are not seen, check them"
                            if paired else f"; '{d['target']}' is returned: its callers release it, "
                            "move their frees along")
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


def _returned(tu: TUView, func, name: str) -> bool:
    """Whether a return statement of `func` hands out the variable `name`."""
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    return any(r.func is func and pattern.search(tu.node_text(r)) for r in tu.of_kind(K.RETURN_STMT))


def _class_releases(tu: TUView, this, calls) -> list:
    """C++ allocator classes: the frees of a parameter in the other methods of the class whose
    method returns the memory (allocate() / deallocate())."""
    func = this.node.func
    if func is None or func.kind != K.CXX_METHOD:
        return []
    owner = func.cursor.semantic_parent
    out = []
    for a in calls:
        other = a.node.func
        if a.role != "free" or other is None or other is func or other.kind != K.CXX_METHOD:
            continue
        if other.cursor.semantic_parent != owner:
            continue
        args = call_args(tu, a.node)
        ref = strip(tu, args[0]) if args else None
        target = ref.cursor.referenced if ref is not None and ref.kind == K.DECL_REF_EXPR else None
        if target is not None and target.kind == K.PARM_DECL:
            out.append(a)
    return out


@remedy("FT401")
def buffer_to_mem(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    return move_allocation(tu, f, ctx, "mem")
