"""FT107 borrowed-cell-get: PyCell_GET on a cell other threads can set."""

from __future__ import annotations

from extmigrate.rules import register
from extmigrate.rules.borrowed_common import BorrowedRule, replace_message


@register
class BorrowedCellGet(BorrowedRule):
    code = "FT107"
    name = "borrowed-cell-get"
    summary = "borrowed cell contents from PyCell_GET"
    explanation = ("PyCell_GET reads a cell's contents as a borrowed reference without locking. "
                   "Without the GIL another thread can set the cell (a closure variable) and free "
                   "the old contents while they are in use.")
    action = "Use PyCell_Get, which returns a new reference (every Python has it), and release it."
    doc = """
    Not reported: cells the function created itself (PyCell_New) and has not published, and reads
    inside a critical section on the cell.

    Before:

        PyObject *v = PyCell_GET(cell);
        Py_XINCREF(v);

    After:

        PyObject *v = PyCell_Get(cell);  /* new reference or NULL */
    """

    def message(self, api, container, args):
        return replace_message(api, args, f"another thread can set cell '{container}' and free "
                               "its old contents")
