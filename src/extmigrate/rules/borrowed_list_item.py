"""FT101 borrowed-list-item: PyList_GetItem / PyList_GET_ITEM on a list other threads can mutate."""

from __future__ import annotations

from extmigrate.rules import register
from extmigrate.rules.borrowed_common import BorrowedRule, replace_message


@register
class BorrowedListItem(BorrowedRule):
    code = "FT101"
    name = "borrowed-list-item"
    summary = "borrowed list item from a list other threads can mutate"
    explanation = ("PyList_GetItem and PyList_GET_ITEM return a borrowed reference. Without the GIL "
                   "another thread can remove or replace the item (list.pop, del, slice assignment) "
                   "and free it while this thread still uses it; PyList_GET_ITEM also reads the item "
                   "array without locking while it may be reallocated.")
    action = ("Use PyList_GetItemRef (3.13+, pythoncapi-compat shim for older Pythons) and release "
              "the reference, or hold Py_BEGIN_CRITICAL_SECTION(list) around the access and the use.")
    doc = """
    Not reported: lists the function created itself (PyList_New, PySequence_List, ...) and has not
    yet stored, passed on or returned; lists a helper (in any file of the project) returns new, or
    every caller passes new; global lists only module initialisation fills and nothing changes
    afterwards; tuples; accesses inside a critical section on the list (or on the object whose
    field the list is) or under a lock; results only compared by identity (`== Py_None`, `!= v`,
    with NULL), never dereferenced; fields of the object a tp_dealloc / tp_clear destroys; static
    functions nothing calls in a file with entry points of its own (dead code). A C++ owning wrapper
    (`Ref r(PyList_New(0))`, `r.get()`) is followed like the pointer it holds; a fresh list in a
    field of a struct on the stack (`st.items = PyList_New(0)`) stays private while the struct only
    goes to calls that cannot publish the field (as FT102 describes). So does `buf->list` in a
    static helper taking a pointer to a struct whose instances live only on this file's stack
    frames (CPython's `_blocks_output_buffer.h`: `Buffer b = {.list = NULL}; Buffer_Init(&b)`):
    pointers to it only come from `&local` or the helper's caller, go only to static functions of
    the file (none address-taken), and every use of that field anywhere sets a new list or NULL,
    reads, fills or releases it. A field filled only while its object is made and only read after
    is frozen (as FT102 describes).

    Before:

        PyObject *item = PyList_GetItem(self->items, i);
        if (item == NULL) return NULL;
        Py_INCREF(item);
        return item;

    After:

        PyObject *item = PyList_GetItemRef(self->items, i);  /* new reference */
        if (item == NULL) return NULL;
        return item;
    """

    def message(self, api, container, args):
        tail = (f", or hold Py_BEGIN_CRITICAL_SECTION({container}) around the access"
                if api.kind == "macro" else "")
        return replace_message(api, args, f"another thread can remove the item from "
                               f"'{container}' and free it", tail)
