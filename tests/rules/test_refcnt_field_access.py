"""FT502 refcnt-field-access on real C files: every discovered Python's headers, GIL and free-threaded parses.

With 3.13 headers and -DPy_GIL_DISABLED=1 the field does not exist and the parse has errors: the
accesses must be found all the same.
"""

from __future__ import annotations

import pytest

from tests.conftest import ft_headers, header_matrix

CONFIGS = header_matrix()

CODE = """
#include <Python.h>
#define MYREF(o) ((o)->ob_refcnt)

typedef struct { PyObject_HEAD int x; } Obj;

static Py_ssize_t touch(PyObject *o, Obj *self) {
    Py_ssize_t n = o->ob_refcnt;
    self->ob_base.ob_refcnt = 5;
    ((PyObject *)self)->ob_refcnt += 1;
    --o->ob_refcnt;
    n += MYREF(o);
    Py_SET_REFCNT(o, Py_REFCNT(o) + 1);
    return n;
}

static Py_ssize_t fine(PyObject *o) {
    Py_SET_REFCNT(o, 1);
    /* o->ob_refcnt in a comment */
#ifndef Py_GIL_DISABLED
    o->ob_refcnt++;
#endif
#if PY_VERSION_HEX < 0x030D0000
    o->ob_refcnt--;
#endif
    return Py_REFCNT(o);
}
"""

EXPECTED = sorted([
    ("Py_ssize_t n = o->ob_refcnt;", "o", "read", "Py_REFCNT(o)"),
    ("self->ob_base.ob_refcnt = 5;", "self->ob_base", "write", "Py_SET_REFCNT(&self->ob_base, 5)"),
    ("((PyObject *)self)->ob_refcnt += 1;", "self", "increment", "Py_INCREF(((PyObject *)self))"),
    ("--o->ob_refcnt;", "o", "decrement", "Py_DECREF(o)"),
    ("n += MYREF(o);", "ob_refcnt", "read", ""),
    ("Py_SET_REFCNT(o, Py_REFCNT(o) + 1);", "o", "increment", "Py_INCREF(o)"),
])


@pytest.mark.parametrize("headers", CONFIGS)
def test_found_in_every_configuration(scan_c, headers):
    res = scan_c(CODE, select=["FT502"], headers=headers)
    assert res.findings, res.diagnostics
    lines = open(res.findings[0].path).read().splitlines()
    found = sorted((lines[f.line - 1].strip(), f.symbol, f.data["access"], f.data["replacement"])
                   for f in res.findings)
    assert found == EXPECTED
    assert {f.function for f in res.findings} == {"touch"}


def test_free_threaded_headers_really_lack_the_field(scan_c):
    ft = ft_headers()
    if ft is None:
        pytest.skip("no free-threaded headers (python3.14t, or 3.13+ headers for -DPy_GIL_DISABLED=1)")
    res = scan_c(CODE, select=["FT502"], headers=ft, parse_errors_ok=True)
    assert any("ob_refcnt" in d.message for d in res.diagnostics)
    if ft.gil_disabled:  # the same headers without the define have the field
        gil = scan_c(CODE, select=["FT502"], python=ft.python)
        assert not any("ob_refcnt" in d.message for d in gil.diagnostics)


def test_replacement_span_covers_the_whole_update(scan_c):
    res = scan_c(CODE, select=["FT502"])
    src = open(res.findings[0].path, "rb").read().decode()
    spans = {f.data["access"] + ":" + src[f.data["expr_start"]:f.data["expr_end"]]
             for f in res.findings if f.data["written"]}
    assert "write:self->ob_base.ob_refcnt = 5" in spans
    assert "decrement:--o->ob_refcnt" in spans
    assert "read:o->ob_refcnt" in spans


def test_found_however_many_errors_the_headers_cause(scan_c):
    ft = ft_headers()
    if ft is None:
        pytest.skip("no free-threaded headers (python3.14t, or 3.13+ headers for -DPy_GIL_DISABLED=1)")
    funcs = "".join(f"static Py_ssize_t f{i}(PyObject *o) {{ return o->ob_refcnt; }}\n"
                    for i in range(80))
    res = scan_c("#include <Python.h>\n" + funcs, select=["FT502"], headers=ft, parse_errors_ok=True)
    assert len(res.findings) == 80
    assert sorted(f.line for f in res.findings) == list(range(2, 82))
