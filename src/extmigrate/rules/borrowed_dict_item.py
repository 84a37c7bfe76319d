"""FT102 borrowed-dict-item: PyDict_GetItem* on a dict other threads can mutate."""

from __future__ import annotations

from extmigrate.rules import register
from extmigrate.rules.borrowed_common import BorrowedRule, replace_message


@register
class BorrowedDictItem(BorrowedRule):
    code = "FT102"
    name = "borrowed-dict-item"
    summary = "borrowed dict value from a dict other threads can mutate"
    explanation = ("PyDict_GetItem, PyDict_GetItemWithError, PyDict_GetItemString (and the private "
                   "_PyDict_GetItem* variants) return a borrowed reference. Without the GIL another "
                   "thread can delete or overwrite the key and free the value while it is in use.")
    action = ("Use PyDict_GetItemRef / PyDict_GetItemStringRef (3.13+, pythoncapi-compat shim for "
              "older Pythons): they return 1/0/-1 and a new reference through the last argument.")
    doc = """
    Not reported: the keyword-arguments dict of the call (a fresh dict per call), dicts the function
    created itself and has not published yet (or a helper in any file of the project returns new,
    or every caller passes new), global dicts only module initialisation fills and nothing changes
    afterwards (a constants table), accesses inside a critical section on the dict or under a
    lock, results only compared by identity (with NULL: a membership test; with Py_None or another
    object), never dereferenced, fields of the object a tp_dealloc / tp_clear destroys, the calling
    thread's own PyThreadState_GetDict(), the new dict a Python function documented to return one
    on every call gives (`locale.localeconv()` called by name on the imported module; data:
    `apis.toml` `[python_fresh]`), a field of an object whose struct only the scanned file sees
    when every store to it is a dict the allocating function made and filled before publishing
    the object, and every other use reads it (or is in tp_dealloc / tp_clear), and static functions nothing calls in a file with entry
    points of its own (dead code). A C++ owning wrapper (`Ref d(PyDict_New())`, `d.get()`) is
    followed like the pointer it holds. A dict the function created in a field of a struct on its
    stack (`st.map = PyDict_New()`) stays private when `&st` goes to a call defined in the same file
    or taking `void *`, and no other function of the file does more with that field than read,
    fill or release it (a walker's callback); through a pointer parameter as FT101 describes.

    Before:

        PyObject *v = PyDict_GetItemWithError(self->cache, key);
        if (v == NULL && PyErr_Occurred()) return NULL;
        use(v);

    After:

        PyObject *v;
        if (PyDict_GetItemRef(self->cache, key, &v) < 0) return NULL;
        use(v);
        Py_XDECREF(v);
    """

    def message(self, api, container, args):
        return replace_message(api, args, f"another thread can delete or replace the value in "
                               f"'{container}' and free it")
