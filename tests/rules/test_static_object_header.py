"""FT503 static-object-header on real C: every discovered Python's headers, GIL and free-threaded
parses (with 3.13+ headers and -DPy_GIL_DISABLED=1 the hand-written header does not fit)."""

from __future__ import annotations

import pytest

from tests.conftest import header_matrix

CONFIGS = header_matrix()

CODE = """
#include <Python.h>

typedef struct { PyObject_HEAD int flag; } Flag;
typedef struct { Py_ssize_t refs; PyTypeObject *kind; } Pair;
static PyTypeObject FlagType = { PyVarObject_HEAD_INIT(NULL, 0) "m.Flag", sizeof(Flag) };

static PyObject none_like = { _PyObject_EXTRA_INIT 1, &FlagType };
static Flag on = { { 1, &FlagType }, 1 };
static Flag off = { PyObject_HEAD_INIT(&FlagType) 0 };
static Pair pair = { 1, &FlagType };

PyObject *pick(int which) {
    static Flag maybe = { _PyObject_EXTRA_INIT 1, &FlagType, 2 };
    Flag local = { PyObject_HEAD_INIT(&FlagType) 3 };
    (void)pair; (void)local;
    return which == 0 ? &none_like : which == 1 ? (PyObject *)&on : which == 2
        ? (PyObject *)&off : (PyObject *)&maybe;
}
"""


@pytest.mark.parametrize("headers", CONFIGS)
def test_hand_written_headers_found(scan_c, headers):
    res = scan_c(CODE, select=["FT503"], headers=headers)
    found = res.findings  # in a function too: its body's error is this hazard, not a broken parse
    got = sorted((f.symbol, f.data["form"], f.data["type"]) for f in found)
    assert got == [("maybe", "struct", "&FlagType"), ("none_like", "object", "&FlagType"),
                   ("on", "struct", "&FlagType")]
    assert all(f.fix and f.fix["applicability"] == "safe" for f in found)
