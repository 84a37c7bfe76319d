"""FT104 borrowed-dict-next: PyDict_Next over a dict other threads can mutate, without a lock."""

from __future__ import annotations

from extmigrate.rules import register
from extmigrate.rules.borrowed_common import BorrowedRule, call_text


@register
class BorrowedDictNext(BorrowedRule):
    code = "FT104"
    name = "borrowed-dict-next"
    summary = "PyDict_Next iterates a shared dict without a critical section"
    explanation = ("Unlike the other dict calls, PyDict_Next does not lock the dict, and the keys "
                   "and values it hands out are borrowed. Without the GIL another thread can "
                   "resize the dict or free an item in the middle of the iteration.")
    action = ("Hold Py_BEGIN_CRITICAL_SECTION(dict) ... Py_END_CRITICAL_SECTION() around the whole "
              "loop (a no-op before 3.13 and on GIL builds; pythoncapi-compat / the extmigrate "
              "compat header define it for older Pythons), and take strong references (Py_NewRef) "
              "to keys or values used after the loop. Or iterate over a copy (PyDict_Copy, "
              "PyDict_Items).")
    doc = """
    Not reported: the keyword-arguments dict of the call, dicts the function created and has not
    published, and loops inside a critical section on the dict.

    Before:

        while (PyDict_Next(self->handlers, &pos, &key, &value)) {
            if (register_one(key, value) < 0) return -1;
        }

    After:

        int rc = 0;
        Py_BEGIN_CRITICAL_SECTION(self->handlers);
        while (PyDict_Next(self->handlers, &pos, &key, &value)) {
            if (register_one(key, value) < 0) { rc = -1; break; }
        }
        Py_END_CRITICAL_SECTION();
        if (rc < 0) return -1;
    """

    def message(self, api, container, args):
        return (f"{call_text(api, args)} iterates '{container}' without locking it; another "
                f"thread can change '{container}' during the loop and free the borrowed keys "
                f"and values: hold Py_BEGIN_CRITICAL_SECTION({container}) around the whole loop "
                "and take strong references to keys/values used after it")
