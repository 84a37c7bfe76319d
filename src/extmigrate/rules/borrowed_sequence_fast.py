"""FT108 borrowed-sequence-fast: PySequence_Fast_GET_ITEM / _ITEMS on what may be a shared list."""

from __future__ import annotations

from extmigrate.rules import register
from extmigrate.rules.borrowed_common import BorrowedRule, call_text


@register
class BorrowedSequenceFast(BorrowedRule):
    code = "FT108"
    name = "borrowed-sequence-fast"
    summary = "PySequence_Fast items read from what may be another thread's list"
    explanation = ("PySequence_Fast returns its argument itself when that is a list, so "
                   "PySequence_Fast_GET_ITEM and PySequence_Fast_ITEMS read the caller's list "
                   "without locking. Without the GIL another thread can resize it (moving the item "
                   "array) or free an item while it is in use.")
    action = ("Hold Py_BEGIN_CRITICAL_SECTION(seq) around the PySequence_Fast_* accesses and the "
              "uses of the items (a no-op on GIL builds), or convert with PySequence_Tuple, whose "
              "result nobody else can change.")
    doc = """
    Not reported: sequences that are tuples (the args tuple of a METH_VARARGS function, results of
    PySequence_Tuple / PyTuple_New, values checked with PyTuple_Check), lists the function created
    and has not published, and accesses inside a critical section on the sequence.

    Before:

        PyObject *seq = PySequence_Fast(arg, "expected a sequence");
        for (i = 0; i < PySequence_Fast_GET_SIZE(seq); i++)
            total += PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));

    After:

        PyObject *seq = PySequence_Fast(arg, "expected a sequence");
        Py_BEGIN_CRITICAL_SECTION(seq);
        for (i = 0; i < PySequence_Fast_GET_SIZE(seq); i++)
            total += PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));
        Py_END_CRITICAL_SECTION();
    """

    def message(self, api, container, args):
        return (f"{call_text(api, args)} reads the items of '{container}' without locking; when "
                f"'{container}' is a list another thread can resize it or free an item while it "
                f"is in use: hold Py_BEGIN_CRITICAL_SECTION({container}) around the accesses, or "
                "convert with PySequence_Tuple")
