"""FT105 borrowed-weakref: PyWeakref_GetObject / PyWeakref_GET_OBJECT."""

from __future__ import annotations

from extmigrate.rules import register
from extmigrate.rules.borrowed_common import BorrowedRule, replace_message


@register
class BorrowedWeakref(BorrowedRule):
    code = "FT105"
    name = "borrowed-weakref"
    summary = "borrowed referent of a weak reference"
    explanation = ("PyWeakref_GetObject and PyWeakref_GET_OBJECT return a borrowed reference to the "
                   "referent. Without the GIL another thread can drop the last strong reference and "
                   "free the object between the call and its use, even before a Py_INCREF.")
    action = ("Use PyWeakref_GetRef (3.13+, pythoncapi-compat shim for older Pythons): it returns "
              "1 and a new reference, 0 when the referent is gone, -1 on error.")
    doc = """
    Every use is reported (a weak reference never keeps its referent alive, whoever owns the weak
    reference) except results only compared with Py_None/NULL and code compiled only for Pythons
    before 3.13.

    Before:

        PyObject *obj = PyWeakref_GET_OBJECT(self->ref);
        if (obj == Py_None) Py_RETURN_NONE;
        return PyObject_Repr(obj);

    After:

        PyObject *obj;
        if (PyWeakref_GetRef(self->ref, &obj) < 0) return NULL;
        if (obj == NULL) Py_RETURN_NONE;
        PyObject *r = PyObject_Repr(obj);
        Py_DECREF(obj);
        return r;
    """

    def message(self, api, container, args):
        return replace_message(api, args, f"another thread can drop the last reference to the "
                               f"object '{container}' refers to and free it")
