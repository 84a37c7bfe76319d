"""FT303 static-scratch-buffer: a static array used as scratch space by Python-callable code."""

from __future__ import annotations

from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.rules.static_facts import findings_for, tu_facts
from extmigrate.tree import TUView


def _message(report: dict) -> str:
    info = report["info"]
    fns = sorted({w["function"] for w in report["writes"] if w["function"]})
    return (f"static buffer '{info['name']}' ({info['type']}) is filled by {', '.join(fns[:4])}() "
            "after module initialisation: two threads formatting into it at once overwrite each "
            "other's text")


@register
class StaticScratchBuffer(Rule):
    code = "FT303"
    name = "static-scratch-buffer"
    category = "static-state"
    severity = "warning"
    summary = "static array written as scratch space by code Python can call"
    explanation = ("A static char buffer (or any static array filled with memcpy, strcpy, sprintf or "
                   "element stores) is one buffer for the whole process. Under the GIL a function "
                   "could fill it and use it undisturbed; without the GIL another thread can "
                   "overwrite it between the write and the use, giving corrupted results.")
    action = ("Use a local (stack) buffer, a heap buffer owned by the call, or a thread-local buffer "
              "(_Thread_local / __thread / thread_local) when it is large or must persist.")
    doc = """
    Reports each static array (file or function scope) once, with every write site made after
    module initialisation and not under a lock.

    Before:

        static PyObject *fmt(PyObject *self, PyObject *arg) {
            static char buf[64];
            snprintf(buf, sizeof buf, "<%ld>", PyLong_AsLong(arg));
            return PyUnicode_FromString(buf);
        }

    After:

        static PyObject *fmt(PyObject *self, PyObject *arg) {
            char buf[64];
            snprintf(buf, sizeof buf, "<%ld>", PyLong_AsLong(arg));
            return PyUnicode_FromString(buf);
        }
    """

    def collect(self, tu: TUView) -> dict:
        return tu_facts(tu)

    def finish(self, facts: list, findings: list[Finding]) -> list[Finding]:
        return findings_for(self, facts, _message)
