"""FT301 static-mutable-global: static or global state written after module initialisation, unguarded."""

from __future__ import annotations

from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.rules.static_facts import findings_for, tu_facts
from extmigrate.tree import TUView


def _message(report: dict) -> str:
    info, writes = report["info"], report["writes"]
    what = {"file": "static", "function": "function-scope static", "global": "global"}[info["scope"]]
    fns = sorted({w["function"] for w in writes if w["function"]})
    where = ", ".join(f"{f}()" for f in fns[:4]) + (" ..." if len(fns) > 4 else "")
    n = len(writes)
    return (f"{what} '{info['name']}' is written after module initialisation without a lock or an "
            f"atomic operation ({n} write{'s' if n != 1 else ''}, in {where}): threads calling these "
            "functions at once race on it")


@register
class StaticMutableGlobal(Rule):
    code = "FT301"
    name = "static-mutable-global"
    category = "static-state"
    severity = "warning"
    summary = "static or global variable written after module init without a lock or atomics"
    explanation = ("A file-scope static, a function-scope static or a global is one variable shared by "
                   "every thread. With the GIL only one thread ran extension code at a time; on "
                   "free-threaded Python two threads can update it at once: counters lose increments, "
                   "pointers are torn or leaked, and compound state ends up half-updated.")
    action = ("Move the state into module state (PyModule_GetState) or the object it belongs to; or "
              "guard every access with a PyMutex (PyMutex_Lock/PyMutex_Unlock) or a critical section; "
              "make counters and flags atomic (_Py_atomic_* / C11 atomics); or make it "
              "thread-local when each thread may have its own copy.")
    doc = """
    Reports each variable once, at its declaration, with every unguarded write as a related site.
    Writes made during initialisation only (PyInit_*, Py_mod_exec functions and functions called
    only from them, across all files of the project) are not reported, nor are writes under a
    PyMutex / pthread / PyThread lock, a critical section, an atomic operation, or to `_Atomic`,
    thread-local, const, type-object and method-table variables, nor `_Py_IDENTIFIER` statics
    (CPython fills them thread-safely). A table of callbacks (a struct with function-pointer
    members, or an array of them) passed by address to a call is read by that call, not written;
    stores into its members still count. A static function nothing calls (in a file with entry points
    of its own) is dead code: its writes do not count. Lazy caches are FT302, static buffers FT303.

    Before:

        static long ncalls;

        static PyObject *count(PyObject *self, PyObject *arg) {
            ncalls++;
            return PyLong_FromLong(ncalls);
        }

    After:

        static PyMutex ncalls_lock;
        static long ncalls;

        static PyObject *count(PyObject *self, PyObject *arg) {
            long n;
            PyMutex_Lock(&ncalls_lock);
            n = ++ncalls;
            PyMutex_Unlock(&ncalls_lock);
            return PyLong_FromLong(n);
        }
    """

    def collect(self, tu: TUView) -> dict:
        return tu_facts(tu)

    def finish(self, facts: list, findings: list[Finding]) -> list[Finding]:
        return findings_for(self, facts, _message)
