"""FT403 alloc-mismatched-free: memory from one allocator family freed or resized by another."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from extmigrate.model import Finding, Site
from extmigrate.rules import register
from extmigrate.rules.alloc_common import (FAMILIES, AllocCall, is_assign, alloc_calls, call_args,
                                           call_data, compatible, decl_key, destination, is_null,
                                           strip)
from extmigrate.rules.base import Rule
from extmigrate.tree import K, Node, TUView


@dataclass
class Source:
    offset: int
    family: str | None  # None: assigned from something that is not an allocation
    call: AllocCall | None


@register
class MismatchedFree(Rule):
    code = "FT403"
    name = "alloc-mismatched-free"
    category = "allocator"
    severity = "error"
    summary = "memory freed or resized by a different allocator family than the one that allocated it"
    explanation = (
        "Memory must be released by the family that allocated it: the C API makes any other free "
        "undefined behaviour. libc against Python allocators crashes on every build; PyMem against "
        "PyObject memory only worked while both were pymalloc: free-threaded builds serve each domain "
        "from its own mimalloc heaps, and the debug hooks (PYTHONMALLOC=debug, on by default in "
        "debug builds) abort on the mismatch.")
    action = "Release (or resize) the memory with the function of the family that allocated it."
    doc = """
    Follows a pointer from its allocation to its release: a local variable within one function (the
    last assignment before the free must be an allocation of another family, with no allocation of a
    matching family before it), and a struct field or global across the functions of the file (every
    allocation stored into the field is of another family, e.g. allocated in tp_new and freed in
    tp_dealloc; a field stored from a local takes the local's allocation, and a field that also
    receives memory from elsewhere, such as a parameter, is not judged).

    Families: malloc/calloc/realloc/free, PyMem_Raw*, PyMem_* (with PyMem_New, PyMem_Resize,
    PyMem_Del), PyObject_Malloc/Free (with PyObject_Del), PyObject_New, PyObject_GC_New /
    PyObject_GC_Del, and the tp_alloc/tp_free slots (tp_free also releases PyObject_New and
    PyObject_GC_New objects; PyObject_Free and PyObject_GC_Del release tp_alloc objects of non-GC
    and GC types).

    Before:

        self->name = strdup(name);            /* in tp_new */
        ...
        PyMem_Free(self->name);               /* in tp_dealloc */

    After:

        self->name = strdup(name);
        ...
        free(self->name);
    """

    def check(self, tu: TUView) -> list[Finding]:
        sources: dict[str, list[Source]] = defaultdict(list)
        released = []
        for a in alloc_calls(tu):
            if a.role != "free":
                dest = destination(tu, a.node)
                if dest.key:
                    sources[dest.key].append(Source(a.use.start, a.family, a))
            if a.role != "alloc":
                args = call_args(tu, a.node)
                target = decl_key(strip(tu, args[0])) if args else None
                if target is not None:
                    released.append((a, target))
        if not released:
            return []
        self._other_assignments(tu, {key for _, (key, _, _) in released},
                                {name for _, (_, name, _) in released}, sources)
        out = []
        for a, (key, name, local) in released:
            srcs = sources.get(key, [])
            if local:
                srcs = [s for s in srcs if s.offset < a.use.start]
                if not srcs or srcs[-1].family is None:
                    continue
                mine = [srcs[-1]]
            elif any(s.family is None for s in srcs):
                continue  # the field also holds memory from elsewhere (a parameter, another object)
            else:
                mine = srcs
            if not mine or any(compatible(s.family, a.family) for s in srcs if s.family):
                continue
            out.append(self._finding(tu, a, name, local, mine))
        return out

    def _other_assignments(self, tu: TUView, keys: set[str], names: set[str], sources: dict) -> None:
        """Add the assignments of the released variables and fields that are not allocations: a
        field stored from a local takes that local's allocation; anything else, and `&x` (an out
        parameter), is an unknown source."""
        stores: list[tuple[str, Node | None, Node]] = []  # key, assigned value (None: &x), where

        def target(node: Node, assignment: Node | None = None):
            """The released variable or field an expression names (cheap checks first); with
            `assignment`, only when that binary operator is an assignment."""
            node = strip(tu, node)
            if node.kind not in (K.DECL_REF_EXPR, K.MEMBER_REF_EXPR) or \
                    (assignment is not None and not is_assign(tu, assignment)) or node.spelling not in names:
                return None
            ref = decl_key(node)
            return ref[0] if ref and ref[0] in keys else None

        for op in tu.of_kind(K.BINARY_OPERATOR):
            kids = tu.children_of(op)
            if len(kids) == 2:
                key = target(kids[0], op)
                if key:
                    stores.append((key, kids[1], op))
        for var in tu.of_kind(K.VAR_DECL):
            if var.func is None or var.spelling not in names:
                continue
            key = var.cursor.get_usr() or var.spelling
            init = [k for k in tu.children_of(var) if k.kind != K.TYPE_REF]
            if key in keys and init:
                stores.append((key, init[-1], var))
        for op in tu.of_kind(K.UNARY_OPERATOR):
            kids = tu.children_of(op)
            if len(kids) == 1:
                key = target(kids[0])
                if key and tu.node_text(op).startswith("&"):
                    stores.append((key, None, op))
        for key, value, at in stores:
            if value is not None and (is_null(tu, value) or any(
                    s.call is not None and value.start <= s.offset <= value.end for s in sources[key])):
                continue
            sources[key].append(self._through_local(tu, value, at, sources))
        for key in keys:
            sources[key].sort(key=lambda s: s.offset)

    @staticmethod
    def _through_local(tu: TUView, value: Node | None, at: Node, sources: dict) -> Source:
        """`self->buf = buf;`: the source is the last allocation stored into the local before."""
        ref = decl_key(strip(tu, value)) if value is not None else None
        if ref and ref[2]:
            before = [s for s in sources.get(ref[0], ()) if s.offset < at.start
                      and s.call is not None and s.call.node.func is at.func]
            if before:
                return Source(at.start, before[-1].family, before[-1].call)
        return Source(value.start if value is not None else at.start, None, None)

    def _finding(self, tu: TUView, a: AllocCall, name: str, local: bool, mine: list[Source]) -> Finding:
        fams = sorted({s.family for s in mine})
        first = mine[0].call
        how = ", ".join(f"{s.call.name}()" for s in mine[:3])
        what = "resized" if a.role == "realloc" else "released"
        fix_key = "resize" if a.role == "realloc" else "release"
        right = FAMILIES[fams[0]].get(fix_key, "").format(obj=name)
        elsewhere = sorted({s.call.use.function_name or "file scope" for s in mine
                            if s.call.node.func is not a.node.func})
        scope = f" in {', '.join(elsewhere)}" if elsewhere else ""
        related = [Site(s.call.use.path, s.call.use.line, s.call.use.column,
                        f"allocated with {s.call.name}()") for s in mine[:5]]
        return self.finding(
            a.use, name,
            f"'{name}' is allocated with {how}{scope} but {what} with {a.name}(): mismatched "
            f"allocator families" + (f"; use {right}()" if right and len(fams) == 1 else ""),
            related=related,
            data={**call_data(tu, a), "alloc_family": fams[0], "alloc_families": fams,
                  "alloc_call": first.name, "alloc_start": first.use.start,
                  "replacement": right if len(fams) == 1 else "", "target": name,
                  "target_kind": "local" if local else "shared"})
