"""FT205 module-gil-declared-too-early: the declaration against other rules' findings in the module."""

from __future__ import annotations

import os

import pytest

from tests.conftest import before, header_params

PYTHONS = header_params()

MOD = """
#include <Python.h>

extern PyObject *helper_store(PyObject *x);

static PyObject *cache = NULL;

static PyObject *remember(PyObject *self, PyObject *arg) {
    Py_XSETREF(cache, Py_NewRef(arg));   /* RACE */
    return helper_store(arg);
}

static PyMethodDef methods[] = {
    {"remember", remember, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "mod", NULL, 0, methods, slots};
PyMODINIT_FUNC PyInit_mod(void) { return PyModuleDef_Init(&moddef); }
"""

HELPER = """
#include <Python.h>
static long counter;
PyObject *helper_store(PyObject *x) {
    counter++;
    return Py_NewRef(x);
}
"""

OTHER = """
#include <Python.h>
static long unrelated;
static PyObject *bump(PyObject *self, PyObject *arg) { unrelated++; Py_RETURN_NONE; }
static PyMethodDef methods[] = {{"bump", bump, METH_O, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "other", NULL, 0, methods, NULL};
PyMODINIT_FUNC PyInit_other(void) { return PyModuleDef_Init(&moddef); }
"""

SELECT = ["FT205", "FT301"]


def _names(sites):
    return sorted((os.path.basename(s.path), s.line) for s in sites)


@pytest.mark.parametrize("python", PYTHONS)
def test_declaration_with_races_in_the_module_and_a_linked_file(scan_c, python):
    res = scan_c({"mod.c": MOD, "helper.c": HELPER, "other.c": OTHER}, select=SELECT, headers=python)
    races = [f for f in res.findings if f.code == "FT301"]
    assert {f.symbol for f in races} == {"cache", "counter", "unrelated"}
    [f] = [f for f in res.findings if f.code == "FT205"]
    assert (os.path.basename(f.path), f.line, f.symbol) == ("mod.c", 20, "slots")
    assert f.data["declaration"] == "slot"
    # the races of mod.c and of helper.c (linked through helper_store), not other.c's
    assert _names(f.related) == sorted((os.path.basename(r.path), r.line) for r in races
                                       if r.symbol in ("cache", "counter"))
    assert "2 free-threading hazard(s)" in f.message


def test_set_gil_declaration_and_suppressed_hazard(scan_c):
    single = """
#include <Python.h>
static PyObject *cache = NULL;
static PyObject *remember(PyObject *self, PyObject *arg) {
    Py_XSETREF(cache, Py_NewRef(arg));
    Py_RETURN_NONE;
}
static PyMethodDef methods[] = {{"remember", remember, METH_O, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "m", NULL, -1, methods};
PyMODINIT_FUNC PyInit_m(void) {
    PyObject *m = PyModule_Create(&moddef);
    if (m == NULL) return NULL;
#ifdef Py_GIL_DISABLED
    PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);
#endif
    return m;
}
"""
    res = scan_c(single, select=SELECT)
    [f] = [f for f in res.findings if f.code == "FT205"]
    assert (f.symbol, f.function, f.data["declaration"]) == ("PyInit_m", "PyInit_m", "set-gil")
    assert [(s.line) for s in f.related] == [r.line for r in res.findings if r.code == "FT301"]

    # once the race is marked as reviewed, the declaration is no longer too early
    quiet = single.replace("static PyObject *cache = NULL;",
                           "static PyObject *cache = NULL;  /* extmigrate: ignore[FT301] guarded by caller */")
    res = scan_c(quiet, select=SELECT)
    assert res.findings == [] and res.suppressed == 1


def test_module_that_keeps_the_gil_has_only_its_races(scan_c):
    # (declared with nothing racing: tests/fixtures/module_gil_declared_too_early/declared_ok/)
    res = scan_c({"mod.c": MOD.replace("Py_MOD_GIL_NOT_USED", "Py_MOD_GIL_USED")}, select=SELECT)
    assert [f.code for f in res.findings] == ["FT301"]


def test_pybind11_declaration(scan_c):
    res = scan_c({"ext.cpp": """
        #include <Python.h>
        #include <pybind11/pybind11.h>
        static long calls;
        static PyObject *count(PyObject *self, PyObject *arg) { calls++; Py_RETURN_NONE; }
        static PyMethodDef methods[] = {{"count", count, METH_O, NULL}, {NULL, NULL, 0, NULL}};
        PYBIND11_MODULE(ext, m, pybind11::mod_gil_not_used()) {
            PyModule_AddFunctions(m.ptr(), methods);
        }
    """}, select=SELECT, parse_errors_ok=True)  # pybind11's headers are not installed
    assert [f.symbol for f in res.findings if f.code == "FT301"] == ["calls"]
    [f] = [f for f in res.findings if f.code == "FT205"]
    assert (f.symbol, f.data["declaration"], f.line) == ("ext", "pybind11", 7)


def test_declaration_through_a_project_macro(scan_c):
    code = MOD.replace("#ifdef Py_mod_gil\n    {Py_mod_gil, Py_MOD_GIL_NOT_USED},\n#endif\n", "    GIL_FREE_SLOT\n")
    code = code.replace("#include <Python.h>\n", "#include <Python.h>\n#ifdef Py_mod_gil\n"
                        "#define GIL_FREE_SLOT {Py_mod_gil, Py_MOD_GIL_NOT_USED},\n#else\n"
                        "#define GIL_FREE_SLOT\n#endif\n", 1)
    res = scan_c({"mod.c": code, "helper.c": HELPER}, select=SELECT)
    [f] = [f for f in res.findings if f.code == "FT205"]
    assert (f.symbol, f.data["declaration"]) == ("slots", "slot")
    assert open(f.path).read().splitlines()[f.line - 1].strip() == "GIL_FREE_SLOT"


def test_modules_of_one_file_share_one_finding(scan_c):
    second = ("static PyModuleDef_Slot more_slots[] = {\n    {Py_mod_gil, Py_MOD_GIL_NOT_USED},\n"
              "    {0, NULL},\n};\n"
              "static struct PyModuleDef moddef2 = {PyModuleDef_HEAD_INIT, \"mod2\", NULL, 0, methods, more_slots};\n")
    res = scan_c({"mod.c": MOD + second, "helper.c": HELPER}, select=SELECT,
                 parse_errors_ok=before((3, 13)))  # an unguarded Py_mod_gil slot
    [f] = [f for f in res.findings if f.code == "FT205"]
    assert f.symbol == "slots"
    assert f.related[-1].note == "slot array 'more_slots' declares it here too"
    assert len(f.related) == 3  # two races and the other declaration


def test_nanobind_module_built_free_threaded(scan_c):
    files = {
        "pyproject.toml": "",
        "CMakeLists.txt": "nanobind_add_module(ext FREE_THREADED ext.cpp)\n",
        "ext.cpp": """
            #include <Python.h>
            #include <nanobind/nanobind.h>
            static long calls;
            static PyObject *count(PyObject *self, PyObject *arg) { calls++; Py_RETURN_NONE; }
            static PyMethodDef methods[] = {{"count", count, METH_O, NULL}, {NULL, NULL, 0, NULL}};
            NB_MODULE(ext, m) {
                PyModule_AddFunctions(m.ptr(), methods);
            }
        """,
    }
    res = scan_c(files, select=SELECT, parse_errors_ok=True)  # nanobind's headers are not installed
    [f] = [f for f in res.findings if f.code == "FT205"]
    assert (f.symbol, f.data["declaration"], f.line) == ("ext", "nanobind", 7)
    # without FREE_THREADED the module keeps the GIL: nothing is declared too early
    files["CMakeLists.txt"] = "nanobind_add_module(ext ext.cpp)\n"
    assert [f.code for f in scan_c(files, select=SELECT, parse_errors_ok=True).findings] == ["FT301"]


TYPES_MOD = """
#include <Python.h>

extern PyTypeObject Counter_Type;   /* defined in counter.c: no function of it is called here */

static PyModuleDef_Slot slots[] = {
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL},
};

static int exec_mod(PyObject *m) { return PyModule_AddType(m, &Counter_Type); }

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "mod", NULL, 0, NULL, slots};
PyMODINIT_FUNC PyInit_mod(void) { return PyModuleDef_Init(&moddef); }
"""

TYPES_COUNTER = """
#include <Python.h>
static long created;
static PyObject *counter_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    created++;   /* RACE */
    return type->tp_alloc(type, 0);
}
PyTypeObject Counter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mod.Counter",
    .tp_basicsize = sizeof(PyObject),
    .tp_new = counter_new,
};
"""


def test_a_type_defined_in_another_file_belongs_to_the_module(scan_c):
    """The module links with the file that defines a variable it uses (its types, most often)."""
    files = {"mod.c": TYPES_MOD, "counter.c": TYPES_COUNTER}
    res = scan_c(files, select=SELECT, parse_errors_ok=before((3, 13)))
    [race] = [f for f in res.findings if f.code == "FT301"]
    assert race.symbol == "created"
    [f] = [f for f in res.findings if f.code == "FT205"]
    assert _names(f.related) == [("counter.c", race.line)]
    # A variable of the same name that another, unrelated module defines statically is not it.
    files["counter.c"] = TYPES_COUNTER.replace("PyTypeObject Counter_Type", "static PyTypeObject Counter_Type")
    res = scan_c(files, select=SELECT, parse_errors_ok=before((3, 13)))
    assert not [f for f in res.findings if f.code == "FT205"]


POINTER_LIB = """
#include <Python.h>
struct context { void *privdata; void (*free_privdata)(void *); };
void context_free(struct context *c) {
    if (c->privdata && c->free_privdata)
        c->free_privdata(c->privdata);   /* through the field: not a call of free_privdata() */
}
"""

POINTER_MOD = MOD.replace("extern PyObject *helper_store(PyObject *x);",
                          "struct context;\nextern void context_free(struct context *c);") \
                 .replace("Py_XSETREF(cache, Py_NewRef(arg));   /* RACE */", "") \
                 .replace("return helper_store(arg);", "context_free(NULL); Py_RETURN_NONE;")

TEST_PROGRAM = """
#include <Python.h>
#include <stdlib.h>
static int freed;
void free_privdata(void *p) { freed++; free(p); }
int main(void) { free_privdata(malloc(1)); return freed != 1; }
"""


def test_a_call_through_a_function_pointer_field_links_no_file(scan_c):
    """A library calling `c->free_privdata(p)` does not link the module with a test program that
    defines a function free_privdata(); a call of the function by name does."""
    files = {"mod.c": POINTER_MOD, "lib.c": POINTER_LIB, "test.c": TEST_PROGRAM}
    res = scan_c(files, select=SELECT)
    assert [f.symbol for f in res.findings if f.code == "FT301"] == ["freed"]
    assert not [f for f in res.findings if f.code == "FT205"]
    files["lib.c"] = POINTER_LIB.replace("c->free_privdata(c->privdata);", "free_privdata(c->privdata);") \
                                .replace("void context_free", "void free_privdata(void *);\nvoid context_free")
    res = scan_c(files, select=SELECT)
    [f] = [f for f in res.findings if f.code == "FT205"]
    assert _names(f.related) == [("test.c", 4)]
