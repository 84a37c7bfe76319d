"""FT402 alloc-object-outside-object-domain: a Python object allocated with PyMem_*, PyMem_Raw* or malloc."""

from __future__ import annotations

from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.alloc_common import (OBJECT_INIT, alloc_calls, allocation_kind, destination,
                                           move_data, passed_to_object_init)
from extmigrate.rules.base import Rule
from extmigrate.tree import TUView

_OUTSIDE = ("libc", "raw", "mem")


@register
class ObjectOutsideObjectDomain(Rule):
    code = "FT402"
    name = "alloc-object-outside-object-domain"
    category = "allocator"
    severity = "error"
    summary = "Python object allocated with PyMem_*, PyMem_Raw* or malloc instead of the object domain"
    explanation = (
        "The free-threaded build requires that all Python objects are allocated with the object "
        "domain. Its garbage collector finds objects by walking the mimalloc heaps reserved for them, "
        "and object memory is kept for lock-free readers until they are done; an object allocated "
        "with PyMem_Malloc or malloc is outside both, so it is missed or freed under a reader.")
    action = ("Allocate the object with its type's tp_alloc (or PyObject_New / PyObject_GC_New), or "
              "with PyObject_Malloc in a custom allocator, and release it with the matching tp_free / "
              "PyObject_Free.")
    doc = """
    Reports `malloc`, `calloc`, `realloc`, `PyMem_Raw*` and `PyMem_*` (including `PyMem_New`)
    allocations whose result is cast or assigned to a struct that starts with a PyObject header
    (`PyObject_HEAD`, `PyObject_VAR_HEAD`, `PyObject ob_base`, or another such struct), to
    `PyObject *`, or that is passed to `PyObject_Init` / `PyObject_InitVar` (directly or through a
    local variable). Arrays of object pointers (`PyObject **`) are buffers and fine.

    Before:

        MyObject *self = (MyObject *)PyMem_Malloc(sizeof(MyObject));
        PyObject_Init((PyObject *)self, &MyType);

    After:

        MyObject *self = PyObject_New(MyObject, &MyType);
    """

    def check(self, tu: TUView) -> list[Finding]:
        out = []
        for a in alloc_calls(tu):
            if a.family not in _OUTSIDE or a.role == "free":
                continue
            dest = destination(tu, a.node)
            kind, what = allocation_kind(tu, a, dest)
            why = ""
            if kind == "object":
                why = f"as '{what}'"
            elif dest.kind == "arg" and dest.callee in OBJECT_INIT:
                why = f"passed to {dest.callee}()"
            elif dest.kind == "var" and dest.local and kind != "buffer" and \
                    passed_to_object_init(tu, a.node.func, dest.name, a.use.start):
                why = f"'{dest.name}' is passed to PyObject_Init()"
            if not why:
                continue
            data = move_data(tu, a, dest, "object")
            out.append(self.finding(
                a.use, dest.name or a.name,
                f"{a.name}() allocates a Python object ({why}) outside the object domain: "
                f"free-threaded Python requires objects to come from tp_alloc, PyObject_New or "
                f"{data['replacement']}()", data=data))
        return out
