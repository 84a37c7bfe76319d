"""FT401 object-domain-buffer: PyObject_Malloc & co. used for memory that is not a Python object."""

from __future__ import annotations

from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.alloc_common import (alloc_calls, cast_to_object, destination, memory_kind,
                                           move_data, passed_to_object_init, type_name)
from extmigrate.rules.base import Rule
from extmigrate.tree import TUView

@register
class ObjectDomainBuffer(Rule):
    code = "FT401"
    name = "object-domain-buffer"
    category = "allocator"
    severity = "warning"
    fixable = True
    summary = "PyObject_Malloc/Calloc/Realloc used for a buffer that is not a Python object"
    explanation = (
        "The free-threaded build requires that only Python objects are allocated with the object "
        "domain (PyObject_Malloc and friends), a hard requirement where it was a best practice "
        "before. There the object domain is served from mimalloc heaps kept for Python objects (their "
        "pages are reused only after concurrent lock-free readers are done, and the runtime treats "
        "every block in them as an object); a plain buffer does not belong there.")
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
            if memory_kind(dest.types) != "buffer":
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
                f"{a.name}() allocates '{type_name(dest.types)}' memory for {target}, which is not "
                f"a Python object: on free-threaded Python the object domain is for objects only; "
                f"use {data['replacement']}()", data=data))
        return out
