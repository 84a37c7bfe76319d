"""The project call graph, built from real C files parsed by libclang."""

from __future__ import annotations

import textwrap

from extmigrate.analysis import callgraph
from extmigrate.parse import parse
from extmigrate.scan import ScanOptions, build_flags
from extmigrate.tree import TUView


def facts(tmp_path, files: dict[str, str]) -> list[dict]:
    paths = []
    for name, code in files.items():
        p = tmp_path / name
        p.write_text(textwrap.dedent(code))
        paths.append(str(p))
    fs = build_flags(ScanOptions(paths=[str(tmp_path)]), paths, [])
    out = []
    for p in paths:
        tu = TUView(parse(fs.spec_for(p)), p, lambda f: f.startswith(str(tmp_path)))
        out.append(callgraph.collect(tu))
    return out


MOD = """
#include <Python.h>
#include <pthread.h>
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void helper(void) {}
static void init_helper(void) { helper(); }
static void once_fn(void) {}
static void at_exit_cb(void) {}
static int exec_mod(PyObject *m) { init_helper(); return Py_AtExit(at_exit_cb); }
static PyObject *meth(PyObject *self, PyObject *u) { helper(); pthread_once(&once, once_fn); Py_RETURN_NONE; }
static void unused(void) {}
static PyMethodDef methods[] = {{"meth", meth, METH_NOARGS, NULL}, {NULL}};
static PyModuleDef_Slot slots[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "m", NULL, 0, methods, slots};
PyMODINIT_FUNC PyInit_m(void) { return PyModuleDef_Init(&moddef); }
"""


def test_roots_and_reachability(tmp_path):
    (f,) = facts(tmp_path, {"m.c": MOD})
    key = {k.rsplit(":", 1)[-1]: k for k in f["defs"]}
    g = callgraph.CallGraph([f])
    assert {k.rsplit(":", 1)[-1] for k in g.init} >= {"PyInit_m", "exec_mod", "once_fn"}
    assert {k.rsplit(":", 1)[-1] for k in g.taken} >= {"meth", "at_exit_cb"}
    after = {n for n, k in key.items() if g.runs_after_init(k)}
    assert after == {"meth", "helper", "at_exit_cb"}  # `unused`: a static function nothing calls is dead
    assert key["helper"].endswith("m.c:helper") and key["PyInit_m"] == "PyInit_m"


def test_static_functions_of_two_files_stay_apart(tmp_path):
    a = """
    #include <Python.h>
    void shared(void);
    static void tidy(void) {}
    static PyObject *meth(PyObject *s, PyObject *u) { shared(); Py_RETURN_NONE; }
    static PyMethodDef methods[] = {{"meth", meth, METH_NOARGS, NULL}, {NULL}};
    PyMODINIT_FUNC PyInit_m(void) { tidy(); return NULL; }
    """
    b = """
    static void tidy(void) {}
    void shared(void) { tidy(); }
    """
    g = callgraph.CallGraph(facts(tmp_path, {"a.c": a, "b.c": b}))
    a_tidy = f"{tmp_path}/a.c:tidy"
    b_tidy = f"{tmp_path}/b.c:tidy"
    assert not g.runs_after_init(a_tidy)  # only PyInit_m calls a.c's tidy
    assert g.runs_after_init(b_tidy)  # meth -> shared -> b.c's tidy
    assert g.runs_after_init("shared")
    assert g.runs_after_init("not_defined_anywhere")


def test_module_teardown_functions_are_not_after_init(tmp_path):
    code = """
    #include <Python.h>
    static PyObject *cache;
    static void mod_free(void *m) { Py_CLEAR(cache); }
    static int mod_clear(PyObject *m) { return 0; }
    static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "m", NULL, -1, NULL,
                                        NULL, NULL, mod_clear, mod_free};
    PyMODINIT_FUNC PyInit_m(void) { return PyModule_Create(&moddef); }
    """
    g = callgraph.CallGraph(facts(tmp_path, {"m.c": code}))
    assert not g.runs_after_init(f"{tmp_path}/m.c:mod_free")
    assert not g.runs_after_init(f"{tmp_path}/m.c:mod_clear")


def test_initializer_clang_dropped_is_read_as_text(tmp_path):
    # the docstring macro comes from a generated header that is missing: clang drops the initializer
    code = """
    #include <Python.h>
    #include "generated_docs.h"
    static void mod_free(void *m) {}
    static PyObject *meth(PyObject *s, PyObject *u) { Py_RETURN_NONE; }
    static PyObject *late(PyObject *s, PyObject *u) { Py_RETURN_NONE; }
    static PyMethodDef methods[] = {{"meth", meth, METH_NOARGS, meth_doc}, {NULL}};
    static PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "m", module_doc, -1, methods,
                                 NULL, NULL, NULL, mod_free};
    """
    (f,) = facts(tmp_path, {"m.c": code})
    names = lambda keys: {k.rsplit(":", 1)[-1] for k in keys}
    assert names(f["init"]) == {"mod_free"} and names(f["taken"]) == {"meth"}


def test_uncalled_functions_of_plain_c_files_are_not_entry_points(tmp_path):
    lib = """
    static int state;
    static void bump(void) { state++; }
    void lib_test_main(void) { bump(); }
    """
    ext = """
    #include <Python.h>
    void lib_api(void) {}
    """
    g = callgraph.CallGraph(facts(tmp_path, {"lib.c": lib, "ext.c": ext}))
    assert not g.runs_after_init("lib_test_main")
    assert not g.runs_after_init(f"{tmp_path}/lib.c:bump")
    assert g.runs_after_init("lib_api")  # in a file that includes Python.h: an unknown entry point
