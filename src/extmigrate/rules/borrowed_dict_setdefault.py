"""FT103 borrowed-dict-setdefault: the borrowed result of PyDict_SetDefault."""

from __future__ import annotations

from extmigrate.rules import register
from extmigrate.rules.borrowed_common import BorrowedRule, replace_message


@register
class BorrowedDictSetdefault(BorrowedRule):
    code = "FT103"
    name = "borrowed-dict-setdefault"
    summary = "borrowed result of PyDict_SetDefault on a shared dict"
    explanation = ("PyDict_SetDefault returns a borrowed reference to the value now in the dict. "
                   "Without the GIL another thread can replace or delete that value and free it "
                   "before this thread uses it.")
    action = ("Use PyDict_SetDefaultRef (3.13+, pythoncapi-compat shim for older Pythons), which "
              "returns a new reference through its last argument.")
    doc = """
    Not reported: calls whose result is ignored (the insertion itself is atomic), dicts the
    function created and has not published, and calls inside a critical section on the dict.

    Before:

        PyObject *v = PyDict_SetDefault(self->interned, s, s);
        if (v == NULL) return NULL;
        return Py_NewRef(v);

    After:

        PyObject *v;
        if (PyDict_SetDefaultRef(self->interned, s, s, &v) < 0) return NULL;
        return v;
    """

    def message(self, api, container, args):
        return replace_message(api, args, f"another thread can replace the value in "
                               f"'{container}' and free it")
