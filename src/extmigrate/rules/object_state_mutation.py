"""FT510 object-state-mutation: a type's method changes self's state without a critical section."""

from __future__ import annotations

from extmigrate import cursors
from extmigrate.analysis.selfguard import guard, replaces
from extmigrate.analysis.selfwrites import Reach, params, unguarded_writes
from extmigrate.analysis.typeslots import data, exposed, shared_slots
from extmigrate.model import Finding, Site
from extmigrate.rootcause import GROUP_MIN, gather
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.tree import TUView


@register
class ObjectStateMutation(Rule):
    code = "FT510"
    name = "object-state-mutation"
    category = "other"
    severity = "warning"
    summary = "a type's method changes self's state (fields, containers in fields) without a critical section"
    explanation = ("Without the GIL two threads can call methods on the same object at once. Plain "
                   "stores to the object's fields (counters, cursors, buffers, cached references) then "
                   "race: updates are lost, readers see torn state, and replaced references are "
                   "released twice. Changing two containers the object holds (a dict and the list "
                   "that orders its keys) takes several API calls: each locks one container only, and "
                   "another thread can see or break the state between them.")
    action = ("Wrap the method body (or the stretch that reads and writes the fields) in "
              "Py_BEGIN_CRITICAL_SECTION(self) ... Py_END_CRITICAL_SECTION() (with a compat shim "
              "for Pythons before 3.13), or guard the fields with a PyMutex.")
    doc = """
    Checks every function Python calls on a live object: functions in a type's `tp_methods`,
    `tp_getset` getters and setters, number/sequence/mapping/async/buffer tables, `tp_iter`,
    `tp_iternext`, `tp_call`, `tp_richcompare`, `tp_hash`, `tp_setattro`... in static type objects
    and in `PyType_Slot` arrays. A store to a field of the first parameter (`self->x = ...`,
    `self->n++`, `self->buf[i] = ...`, `memcpy(self->buf, ...)`, `Py_XSETREF(self->x, ...)`, also
    through a local alias of self, also in a helper the method passes self to) outside a critical
    section on self or a held lock (also one taken through the project's own lock macros or
    helpers) is reported,
    one finding per method naming the fields. So is a method that changes, through C-API calls
    (`PyList_Append`, `PyDict_SetItem`, `PyDict_DelItem`, `PySet_Add`, `PyObject_SetItem`... listed
    in data/other.toml `[container_steps]`), two or more containers held in self's fields
    (`self->data`, or a local loaded from it), or one such container and a field of self: the
    object's state then changes in several steps. A single call on one container alone is not
    reported: the container locks itself. Construction and destruction slots (`tp_new`,
    `tp_dealloc`, `tp_traverse`, `tp_clear`, `tp_finalize`) are skipped: there the object is not
    shared yet or no longer. `tp_init` is different: `obj.__init__(...)` can run again on an object
    other threads use, so there only the writes that replace or release what the object holds are
    reported (`Py_XSETREF(self->x, v)`, a store after `Py_XDECREF(self->x)` or `PyMem_Free(self->buf)`;
    data/other.toml `replacing`), not a first initialisation. Stores to `_Atomic` fields are skipped.
    A table reached through a cast macro or a helper function that only returns its argument
    (`{Py_tp_methods, void_cast(Foo_methods)}`) is still the type's table.

    Root causes: when three or more methods race only through one helper they pass self to (a
    lazy-fill `ensure_index(self)` seventy methods call), the report is one finding at the helper's
    writes, with each method's call in `sites` (JSON) and the first five in the related locations
    ("and 65 more"); its fix is a critical section in the helper. An `extmigrate: ignore[FT510]` at a
    call drops that site, at the helper the finding; baselines match the helper's key or, site by
    site, the keys the methods had as separate findings.

    Before:

        static PyObject *
        counter_next(CounterObject *self)
        {
            if (self->i >= self->n)
                return NULL;
            return PyLong_FromSsize_t(self->i++);
        }

    After:

        static PyObject *
        counter_next(CounterObject *self)
        {
            PyObject *res = NULL;
            Py_BEGIN_CRITICAL_SECTION(self);
            if (self->i < self->n)
                res = PyLong_FromSsize_t(self->i++);
            Py_END_CRITICAL_SECTION();
            return res;
        }
    """

    def collect(self, tu: TUView) -> dict:
        """Candidate methods (functions with unguarded writes to their first parameter's fields) and
        the slots this TU binds functions to; finish() joins them, since a type's table often names
        functions defined in other files."""
        here = exposed(tu)
        candidates = []
        for fn in tu.functions:
            static = cursors.linkage(fn.cursor) == cursors.INTERNAL
            if static and fn.spelling not in here:
                continue  # a static function no table in its own file names
            ps = params(tu, fn)
            if not ps:
                continue
            self_name = ps[0].spelling
            reach = _state_changes(unguarded_writes(tu, fn, guard(tu)))
            if not reach:
                continue
            replacing = [r for r in reach if replaces(tu, r)]
            candidates.append({"finding": self._finding(tu, fn, self_name, reach).to_dict(),
                               "reinit": (self._finding(tu, fn, self_name, replacing).to_dict()
                                          if replacing else None),
                               "cause": self._cause(tu, fn, reach),
                               "static": static, "slots": sorted(here.get(fn.spelling, ()))})
        return {"exposed": {k: sorted(v) for k, v in here.items()}, "candidates": candidates}

    def _finding(self, tu: TUView, fn, self_name: str, reach: list) -> Finding:
        fields = list(dict.fromkeys(r.write.field for r in reach if not r.write.api))
        containers = list(dict.fromkeys(r.write.field for r in reach if r.write.api))
        start, line, col = reach[0].at
        line_end = len(tu.line_text(fn.path, line)) + 1
        related = [Site(r.where.path, r.write.line, r.write.column,
                        (f"{r.write.api}({r.write.via}->{r.write.field})" if r.write.api
                         else f"writes {r.write.via}->{r.write.field}")
                        + ("" if r.where is fn else f" (in {r.where.spelling}, called with {self_name})"))
                   for r in reach]
        return self.finding(
            (fn.path, start, start, line, col, line, line_end), fn.spelling, "", function=fn.spelling,
            related=related,
            data={"self": self_name, "fields": fields, "containers": containers,
                  "func_start": fn.start, "func_end": fn.end,
                  "helpers": sorted({r.where.spelling for r in reach if r.where is not fn})})

    def _cause(self, tu: TUView, fn, reach: list) -> dict | None:
        """When every write the method makes is in one helper it passes its object to, that helper's
        own finding (the cause several methods share)."""
        helpers = {id(r.where) for r in reach}
        helper = reach[0].where
        if helpers != {id(helper)} or helper is fn:
            return None
        own = [Reach(r.write, helper, (r.write.start, r.write.line, r.write.column)) for r in reach]
        return self._finding(tu, helper, params(tu, helper)[0].spelling, own).to_dict()

    def finish(self, facts: list, findings: list[Finding]) -> list[Finding]:
        everywhere: dict[str, set[str]] = {}
        for fact in facts:
            for name, slots in fact["exposed"].items():
                everywhere.setdefault(name, set()).update(slots)
        out = []
        for fact in facts:
            for c in fact["candidates"]:
                f = Finding.from_dict(c["finding"])
                bound = set(c["slots"]) if c["static"] else everywhere.get(f.symbol, set())
                slots = shared_slots(bound)
                reinit = bound & set(data("type_slots")["reinit_slots"])
                if not slots and reinit and c.get("reinit"):
                    out.append(self._reinit(Finding.from_dict(c["reinit"]), reinit))
                if not slots:
                    continue
                self_name = f.data["self"]
                done = []
                if f.data["fields"]:
                    done.append("writes " + ", ".join(f"{self_name}->{x}" for x in f.data["fields"]))
                if f.data.get("containers"):
                    done.append("changes the containers " + ", ".join(
                        f"{self_name}->{x}" for x in f.data["containers"]) + " through API calls")
                why = ("two threads using the same object race" if not f.data.get("containers") else
                       "each call locks one container only, so another thread can run between the steps "
                       "and see or break the state they keep consistent")
                f.message = (f"'{f.symbol}' ({', '.join(sorted(slots))}) {' and '.join(done)} without a "
                             f"critical section on {self_name}: {why}")
                f.data["slots"] = sorted(slots)
                f.data["cause"] = c.get("cause")
                out.append(f)
        return _by_cause(out)


    @staticmethod
    def _reinit(f: Finding, slots: set[str]) -> Finding:
        self_name = f.data["self"]
        f.message = (f"'{f.symbol}' ({', '.join(sorted(slots))}) replaces "
                     + ", ".join(f"{self_name}->{x}" for x in f.data["fields"] + f.data["containers"])
                     + f" without a critical section on {self_name}: __init__ can be called again on an "
                     "object other threads already use, and two threads then release the same value")
        f.data["slots"] = sorted(slots)
        return f


def _by_cause(found: list[Finding]) -> list[Finding]:
    """Methods whose writes all happen in one shared helper become one finding at the helper, with
    each method's call as a site (`sites`; `related` shows the first MORE): one critical section
    there fixes them all. Fewer than GROUP_MIN such methods stay separate findings."""
    groups: dict[tuple, list[Finding]] = {}
    for f in found:
        cause = f.data.get("cause")
        if cause:
            groups.setdefault((cause["path"], cause["data"]["func_start"]), []).append(f)
    out = [f for f in found if len(groups.get(_key(f), ())) < GROUP_MIN]
    for members in groups.values():
        if len(members) < GROUP_MIN:
            continue
        g = Finding.from_dict(members[0].data["cause"])
        members.sort(key=lambda f: f.sort_key)
        me = g.data["self"]
        writes = ", ".join(f"{me}->{x}" for x in g.data["fields"] + g.data["containers"])
        g.message = (f"'{g.symbol}' writes {writes} without a critical section on {me}, and "
                     f"{len(members)} methods exposed to Python call it with their object "
                     f"({', '.join(m.symbol for m in members[:3])}{', ...' if len(members) > 3 else ''}): "
                     f"two threads using the same object race; one critical section in '{g.symbol}' "
                     "covers them all")
        gather(g, members, lambda m: f"{m.symbol} ({', '.join(m.data['slots'])}) calls {g.symbol} with "
                                     f"{m.data['self']}")
        g.data["slots"] = sorted({x for m in members for x in m.data["slots"]})
        g.data["methods"] = [m.symbol for m in members]
        out.append(g)
    return out


def _key(f: Finding) -> tuple | None:
    cause = f.data.get("cause")
    return (cause["path"], cause["data"]["func_start"]) if cause else None


def _state_changes(reach: list) -> list:
    """The writes that change the object's state: every store to a field; calls that change a container
    held in a field only when there are two such containers or a store besides (one container alone
    locks itself)."""
    stores = [r for r in reach if not r.write.api]
    containers = {r.write.field for r in reach if r.write.api}
    return reach if stores or len(containers) > 1 else []
