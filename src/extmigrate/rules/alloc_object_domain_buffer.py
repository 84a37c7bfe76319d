"""FT401 alloc-object-domain-buffer: PyObject_Malloc & co. used for memory that is not a Python object."""

from __future__ import annotations

import re

from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.alloc_common import (DATA, ROLE_OF, SET_ALLOCATOR, alloc_calls,
                                           allocation_kind, cast_to_object, destination, ft_dead,
                                           is_callee, move_data, passed_to_object_init)
from extmigrate.rules.base import Rule
from extmigrate.tree import K, TUView

_AS_VALUE = re.compile(rb"\bPyObject_(?:Malloc|Calloc|Realloc|MALLOC|REALLOC)\b(?!\s*\()")


@register
class ObjectDomainBuffer(Rule):
    code = "FT401"
    name = "alloc-object-domain-buffer"
    category = "allocator"
    severity = "warning"
    summary = "PyObject_Malloc/Calloc/Realloc used for a buffer that is not a Python object"
    explanation = (
        "The free-threaded build requires that only Python objects are allocated with the object "
        "domain (PyObject_Malloc and friends), a hard requirement where it was a best practice "
        "before. There the object domain is served from mimalloc pages kept for Python objects: a "
        "freed block is reused only for another object, because lock-free readers in other threads "
        "may still read and update the reference-count fields of an object that was just freed. A "
        "plain buffer placed in those pages breaks that assumption and can be written by such a "
        "reader.")
    action = ("Allocate buffers with PyMem_Malloc / PyMem_Calloc / PyMem_Realloc and release them with "
              "PyMem_Free (every allocation and free of this memory must move together).")
    doc = """
    Looks at every `PyObject_Malloc`, `PyObject_Calloc`, `PyObject_Realloc` (and `PyObject_MALLOC`,
    `PyObject_REALLOC`) call and at the type its result is cast or assigned to (a variable, a
    struct field, the function's return type). Memory whose type is a pointer to a scalar, to a
    pointer, or to a struct that does not start with `PyObject_HEAD` / `PyObject ob_base` is a
    buffer. `void *` results are only reported when nothing else tells; a variable that the function
    later passes to `PyObject_Init` or casts to an object type is an object (custom allocators).

    Before:

        self->data = (double *)PyObject_Malloc(n * sizeof(double));
        ...
        PyObject_Free(self->data);

    After:

        self->data = (double *)PyMem_Malloc(n * sizeof(double));
        ...
        PyMem_Free(self->data);
    """

    def check(self, tu: TUView) -> list[Finding]:
        out = []
        for a in alloc_calls(tu):
            if a.family != "object" or a.role == "free":
                continue
            dest = destination(tu, a.node)
            kind, what = allocation_kind(tu, a, dest)
            if kind != "buffer":
                continue
            if dest.kind == "var" and dest.local and (
                    passed_to_object_init(tu, a.node.func, dest.name, a.use.start)
                    or cast_to_object(tu, a.node.func, dest.name, a.use.start)):
                continue
            data = move_data(tu, a, dest, "mem")
            target = dest.name or (f"the result of {a.use.function_name}()" if dest.kind == "return"
                                   else "the result")
            out.append(self.finding(
                a.use, dest.name or a.name,
                f"{a.name}() allocates '{what}' memory for {target}, which is not a Python object: "
                f"on free-threaded Python the object domain is for objects only; use "
                f"{data['replacement']}()", data=data))
        return out + self._as_allocator(tu)

    def _as_allocator(self, tu: TUView) -> list[Finding]:
        """PyObject_Malloc & co. handed to other code as its allocator (a callback table, a
        function pointer): that code allocates its own buffers with them."""
        if tu.uses_of(*SET_ALLOCATOR) or not any(_AS_VALUE.search(tu.source(p)) for p in tu.files):
            return []  # installing allocator hooks (the object domain itself), or no such use
        out = []
        for ref in tu.of_kind(K.DECL_REF_EXPR):
            role = ROLE_OF.get(ref.spelling)
            if role is None or role[0] != "object" or role[1] == "free" or is_callee(tu, ref) or \
                    ft_dead(tu, ref.path, ref.start):
                continue
            replacement = DATA["replacement"]["mem"]["calloc" if "Calloc" in ref.spelling else role[1]]
            out.append(self.finding(
                ref, ref.spelling,
                f"{ref.spelling} is passed on as an allocator function: the code that calls it "
                f"allocates buffers in the object domain, which free-threaded Python reserves for "
                f"objects; pass {replacement} (and PyMem_Free, PyMem_Realloc) instead",
                data={"call": ref.spelling, "call_start": ref.start, "call_end": ref.end,
                      "call_written": tu.node_text(ref) == ref.spelling, "family": "object",
                      "role": role[1], "replacement": replacement,
                      "replacement_free": DATA["replacement"]["mem"]["free"], "target": "",
                      "target_kind": "function-pointer", "target_key": None, "type": ""}))
        return out
