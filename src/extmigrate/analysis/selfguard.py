"""What protects and what replaces a type's object state (FT510 writers, FT515 readers).

`guard(tu)` says whether a position in a function is guarded for its object: a lock, a critical
section on the object (or on one of its fields, which every writer locks), or code a free-threaded
build never compiles. `replaces(tu, reach)` says whether a write swaps or releases the field's current
value (another thread may still be using it).
"""

from __future__ import annotations

from extmigrate.analysis.guards import regions
from extmigrate.analysis.ppbranch import gil_only
from extmigrate.analysis.selfwrites import Reach, arg_field, calls_by_function, clean_expr, field_aliases
from extmigrate.analysis.typeslots import data
from extmigrate.tree import TUView


def guard(tu: TUView):
    def guarded(fn, offset: int, names: set[str]) -> bool:
        for r in regions(tu, fn):
            if r.covers(offset) and (r.kind == "lock" or any(
                    o == n or o.startswith(n + "->") for o in r.objects for n in names)):
                return True
        return gil_only(tu, fn.path, offset)
    return guarded


def replaces(tu: TUView, r: Reach) -> bool:
    """Py_XSETREF(self->x, v), a store after Py_XDECREF(self->x) / PyMem_Free(self->buf), or the old
    value kept in a local and released (`old = self->x; self->x = v; Py_XDECREF(old);`), in the same
    function (data/other.toml `replacing`)."""
    top = r.write.field.split(".")[0].split("->")[0]
    old = None
    for use in calls_by_function(tu).get(id(r.where), ()):
        if use.name not in data("type_slots")["replacing"] or not use.args:
            continue
        hit = arg_field(use.args[0], {r.write.via})
        if hit and hit[0] == top and use.start <= r.write.start:
            return True
        if old is None:
            old = field_aliases(tu, r.where, {r.write.via})
        if old.get(clean_expr(use.args[0]), ("",))[0] == top:
            return True
    return False
