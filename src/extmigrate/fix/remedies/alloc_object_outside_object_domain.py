"""FT402: an object allocated outside the object domain moves to PyObject_Malloc/Free."""

from __future__ import annotations

from extmigrate.fix.base import FixContext, FixProposal, NoFix, remedy
from extmigrate.fix.remedies.alloc_object_domain_buffer import move_allocation
from extmigrate.model import Finding
from extmigrate.tree import TUView


@remedy("FT402")
def object_to_object_domain(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    # An object is released by its type's tp_free / dealloc under another name: always review.
    return move_allocation(tu, f, ctx, "object", review="; check that the type's tp_free / dealloc "
                                                        "releases it with PyObject_Free")
