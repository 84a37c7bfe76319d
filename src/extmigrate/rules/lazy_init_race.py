"""FT302 lazy-init-race: `if (cache == NULL) cache = ...;` on a static, outside module init."""

from __future__ import annotations

from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.rules.static_facts import findings_for, tu_facts
from extmigrate.tree import TUView


def _message(report: dict) -> str:
    info = report["info"]
    if info["pointer"] or info["array"]:
        then = "both create the value; one result leaks, or one thread frees the object the other " \
               "is still using"
    else:
        then = "both run the initialisation it guards, each over the other's half-built state"
    check = report["lazy"][0]["check"]
    under = f" (under the check of '{check}')" if check != info["name"] else ""
    return (f"lazy initialisation of static '{info['name']}'{under} is a check-then-set race: two "
            f"threads can both see it unset and {then}")


@register
class LazyInitRace(Rule):
    code = "FT302"
    name = "lazy-init-race"
    category = "static-state"
    severity = "warning"
    summary = "static cache initialised on first use without synchronisation"
    explanation = ("`if (cache == NULL) cache = create();` was atomic under the GIL as long as create() "
                   "did not release it. Without the GIL two threads can both see NULL and both create: "
                   "one object leaks, or, when the code releases the old value (Py_XSETREF), one thread "
                   "frees the object the other has just returned.")
    action = ("Create the value in module init / Py_mod_exec and keep it in module state; or make the "
              "first use a once-initialisation (PyMutex around check and set, pthread_once, or an "
              "atomic compare-exchange that discards the loser's object).")
    doc = """
    Matches `if (!v)`, `if (v == NULL)`, `if (v == -1)` (a sentinel), `if (a == NULL || b == NULL)`
    and `if (v) return v; ... v = ...;` on a variable of static storage whose store is not under a
    lock, outside module initialisation. Every static set inside such a branch is initialised lazily
    too (`if (!ready) { table = ...; ready = 1; }` reports `table` and `ready`). Stores of NULL
    (Py_CLEAR, resets) are not initialisations. Interned string caches (`static PyObject *str_x =
    NULL`) are the common case. A variable reported here is not also reported by FT301.

    Before:

        static PyObject *str_name = NULL;

        static PyObject *get_name(PyObject *self, PyObject *obj) {
            if (str_name == NULL) {
                str_name = PyUnicode_InternFromString("name");
                if (str_name == NULL) return NULL;
            }
            return PyObject_GetAttr(obj, str_name);
        }

    After:

        static PyObject *str_name = NULL;  /* created in module exec */

        static int module_exec(PyObject *m) {
            str_name = PyUnicode_InternFromString("name");
            return str_name == NULL ? -1 : 0;
        }

        static PyObject *get_name(PyObject *self, PyObject *obj) {
            return PyObject_GetAttr(obj, str_name);
        }
    """

    def collect(self, tu: TUView) -> dict:
        return tu_facts(tu)

    def finish(self, facts: list, findings: list[Finding]) -> list[Finding]:
        return findings_for(self, facts, _message)
