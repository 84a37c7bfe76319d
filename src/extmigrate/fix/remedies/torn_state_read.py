"""FT515: the reading method runs inside a critical section on self, like FT510's writers (the same
wrapper: the body moves to `<name>_impl`)."""

from __future__ import annotations

from extmigrate.fix.base import FixContext, FixProposal, NoFix, remedy
from extmigrate.fix.remedies.object_state_mutation import whole_method
from extmigrate.model import Finding
from extmigrate.tree import TUView


@remedy("FT515")
def lock_reader(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    if f.data.get("readers"):
        return NoFix("many methods read what these writers change: give the writers (FT510) and each "
                     "reader a critical section on the object")
    obj = f.data.get("self")
    if not obj:
        return NoFix("the object the method reads is not known")
    return whole_method(tu, f, ctx, obj)
