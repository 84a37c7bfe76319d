"""FT515: the reading method runs inside a critical section on self, like FT510's writers (the same
wrapper: the body moves to `<name>_impl`)."""

from __future__ import annotations

from extmigrate.fix.base import FixContext, FixProposal, NoFix, remedy
from extmigrate.fix.remedies.object_state_mutation import whole_method, wrap_function
from extmigrate.model import Finding
from extmigrate.tree import TUView


@remedy("FT515")
def lock_reader(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    if f.data.get("readers"):
        return lock_readers(tu, f, ctx)
    obj = f.data.get("self")
    if not obj:
        return NoFix("the object the method reads is not known")
    return whole_method(tu, f, ctx, obj)


def lock_readers(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    """The root cause's readers each run inside a critical section on their object; the writers get
    theirs from FT510's fix (one lock, the object's, on both sides)."""
    edits = []
    for path, start, obj in f.data.get("reader_methods", []):
        fn = next((x for x in tu.functions if x.start == start and x.path == path), None)
        if fn is None or not obj:
            return NoFix("a reading method was not found again: give each reader a critical section by hand")
        more = wrap_function(tu, ctx, fn, obj)
        if isinstance(more, NoFix):
            return NoFix(f"{fn.spelling}: {more.reason}")
        edits += more
    if not edits:
        return NoFix("many methods read what these writers change: give the writers (FT510) and each "
                     "reader a critical section on the object")
    return FixProposal("unsafe", f"run the {len(f.data['readers'])} methods that read what "
                                 f"{', '.join(f.data['writers'])} change inside a critical section on the "
                                 "object (their bodies move to <name>_impl); the writers need one too (FT510)",
                       edits, apis=["Py_BEGIN_CRITICAL_SECTION"])
