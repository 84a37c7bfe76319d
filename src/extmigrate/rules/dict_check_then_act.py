"""FT516 dict-check-then-act: a lookup on a shared dict, then a change of the same key, unlocked."""

from __future__ import annotations

import re

from extmigrate.analysis import callgraph
from extmigrate.analysis.selfguard import guard
from extmigrate.analysis.selfwrites import by_function, calls_by_function, clean_expr
from extmigrate.analysis.typeslots import data
from extmigrate.model import Finding, Site
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.tree import K, TUView

_FIELD = re.compile(r"^(\w+)(?:->|\.)\w+(?:(?:->|\.)\w+)*$")


@register
class DictCheckThenAct(Rule):
    code = "FT516"
    name = "dict-check-then-act"
    category = "other"
    severity = "warning"
    summary = "a shared dict is looked up, then the same key is set or deleted, without a lock"
    explanation = ("Each PyDict_* call locks the dict on its own; a lookup followed by a change of the "
                   "same key does not hold the lock in between. Without the GIL another thread can "
                   "insert or delete that key after the check: two threads both 'add the first "
                   "watcher', one registration overwrites the other, or a delete raises KeyError.")
    action = ("Make it one atomic call (PyDict_SetDefaultRef for insert-if-absent, PyDict_Pop for "
              "remove-if-present; 3.13+, with a compat shim before), or hold "
              "Py_BEGIN_CRITICAL_SECTION(dict) or a lock around the lookup and the change.")
    doc = """
    A call from data/other.toml `[check_then_act]` `checks` (`PyDict_Contains`, `PyDict_GetItem*`,
    `PyMapping_HasKey*`...) followed, in the same function, by one of its `acts` (`PyDict_SetItem`,
    `PyDict_DelItem`...) with the same dict and the same key, where the dict is shared: a variable at
    file scope or a field (`self->cache`, `state->registry`). Neither a local dict, a parameter, nor
    a field of a struct on the function's stack (`acc.seen`) is taken as shared. Not reported: the
    pair inside a critical section on the dict (or on the object whose field it is) or a held lock,
    in a helper every caller calls with one held (the `_impl` of a method `extmigrate fix` wrapped),
    and functions that only run during module initialisation.

    Before:

        static PyObject *watches;   /* dict filled by add_watch() */

        static PyObject *
        add_watch(PyObject *mod, PyObject *key)
        {
            if (PyDict_Contains(watches, key) == 1)
                Py_RETURN_FALSE;
            if (PyDict_SetItem(watches, key, Py_True) < 0)
                return NULL;
            Py_RETURN_TRUE;
        }

    After:

        static PyObject *
        add_watch(PyObject *mod, PyObject *key)
        {
            PyObject *old;
            int had = PyDict_SetDefaultRef(watches, key, Py_True, &old);
            if (had < 0)
                return NULL;
            Py_DECREF(old);
            return PyBool_FromLong(had == 0);
        }
    """

    def collect(self, tu: TUView) -> dict:
        table = data("check_then_act")
        checks, acts = set(table["checks"]), set(table["acts"])
        globals_ = {v.spelling for v in tu.of_kind(K.VAR_DECL) if v.func is None}
        guarded = guard(tu)
        hits = []
        for fn in tu.functions:
            uses = calls_by_function(tu).get(id(fn), ())
            pending = [u for u in uses if u.name in checks and len(u.args) >= 2]
            stack = {v.spelling for v in by_function(tu, (K.VAR_DECL,)).get(id(fn), [])} if pending else set()
            for check in pending:
                d, key = clean_expr(check.args[0]), clean_expr(check.args[1])
                m = _FIELD.match(d)
                if not (d in globals_ or m) or (m and m.group(1) in stack and d[len(m.group(1))] == "."):
                    continue  # a local dict, or one in a struct on this function's stack
                names = {d} | ({m.group(1)} if m else set())
                act = next((u for u in uses if u.name in acts and u.start > check.end and len(u.args) >= 2
                            and clean_expr(u.args[0]) == d and clean_expr(u.args[1]) == key), None)
                if act is None or guarded(fn, check.start, names) or guarded(fn, act.start, names):
                    continue
                call = f"{act.name}({d}, {key}{', ...' if len(act.args) > 2 else ''})"
                f = self.finding(
                    check, d,
                    f"{check.name}({d}, {key}) then {call} on the shared dict "
                    f"'{d}': another thread can change the key between the check and the "
                    f"{'delete' if 'Del' in act.name else 'store'}",
                    related=[Site(act.path, act.line, act.column, call)],
                    data={"function_key": callgraph.node_key(tu, fn)})
                hits.append(f.to_dict())
        return {"calls": callgraph.collect(tu), "hits": hits}

    def finish(self, facts: list, findings: list[Finding]) -> list[Finding]:
        return [Finding.from_dict(d) for d in callgraph.hits_after_init(facts, unless_held=True)]
