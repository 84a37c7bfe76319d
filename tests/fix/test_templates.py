"""Every jinja2 template, rendered: string in, string out."""

from __future__ import annotations

from importlib import resources

from extmigrate.fix.base import macro, render
from extmigrate.fix.compat import header_text

# The templates this file renders; a new template needs a test here.
COVERED = {"module_gil_slot", "module_gil_single_phase", "static_mutable_global",
           "static_scratch_buffer", "extmigrate_compat.h", "borrowed_ref", "borrowed_dict_next",
           "ownership", "module_gil_pybind11", "module_gil_nanobind", "object_state_mutation"}


def _t(name: str) -> str:
    assert name in COVERED
    return name


def test_module_gil_slot():
    assert render(_t("module_gil_slot"), indent="    ") == (
        "#ifdef Py_mod_gil\n    {Py_mod_gil, Py_MOD_GIL_NOT_USED},\n#endif\n")


def test_module_gil_single_phase():
    name = _t("module_gil_single_phase")
    guard = "#if defined(Py_GIL_DISABLED) && PY_VERSION_HEX >= 0x030D0000\n"
    assert macro(name, "set_gil", var="m", indent="    ") == (
        guard + "    PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);\n#endif\n")
    assert macro(name, "set_gil", var="mod", indent="  ", null_checked=False) == (
        guard + "  if (mod != NULL) {\n      PyUnstable_Module_SetGIL(mod, Py_MOD_GIL_NOT_USED);\n"
        "  }\n#endif\n")
    assert macro(name, "from_return", var="module", create="PyModule_Create(&def)", indent="    ") == (
        "PyObject *module = PyModule_Create(&def);\n" + guard
        + "    if (module != NULL) {\n        PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED);\n"
        "    }\n#endif\n    return module;")


def test_static_mutable_global():
    name = _t("static_mutable_global")
    assert macro(name, "lock_decl", lock="n_lock", var="n", indent="") == (
        "static PyMutex n_lock;  /* guards n (extmigrate) */\n")
    assert macro(name, "lock", lock="n_lock") == "PyMutex_Lock(&n_lock);"
    assert macro(name, "unlock", lock="n_lock") == "PyMutex_Unlock(&n_lock);"
    assert macro(name, "atomic_add", var="n", delta="-(k)") == "EXTMIGRATE_ATOMIC_ADD(&n, -(k));"


def test_unlock_before_return():
    name = _t("static_mutable_global")
    assert macro(name, "unlock_return", lock="c_lock", ret="return NULL;") == (
        "{ PyMutex_Unlock(&c_lock); return NULL; }")
    assert macro(name, "unlock_return_value", lock="c_lock", type="PyObject *",
                 expr="Py_NewRef(c)") == (
        "{ PyObject *extmigrate_ret = Py_NewRef(c); PyMutex_Unlock(&c_lock); return extmigrate_ret; }")


def test_static_scratch_buffer():
    assert render(_t("static_scratch_buffer")) == "EXTMIGRATE_THREAD_LOCAL\n"


def test_borrowed_ref():
    name = _t("borrowed_ref")
    assert macro(name, "returned", replacement="PyList_GetItemRef", args=["l", "i"]) == (
        "PyList_GetItemRef(l, i)")
    assert macro(name, "out", replacement="PyDict_GetItemRef", args=["d", "k"], var="v",
                 indent="    ") == "(void)PyDict_GetItemRef(d, k, &v);"
    assert macro(name, "out", replacement="PyDict_GetItemRef", args=["d", "k"], var="v",
                 indent="    ", clear_error=True) == (
        "if (PyDict_GetItemRef(d, k, &v) < 0) {\n        PyErr_Clear();\n    }")
    assert macro(name, "weakref", replacement="PyWeakref_GetRef", args=["r"], var="o", indent="") == (
        "if (PyWeakref_GetRef(r, &o) == 0) {\n    o = Py_NewRef(Py_None);\n}")


def test_borrowed_dict_next():
    name = _t("borrowed_dict_next")
    assert macro(name, "begin", container="self->d", indent="    ") == (
        "    Py_BEGIN_CRITICAL_SECTION(self->d);\n")
    assert macro(name, "end", indent="    ") == "    Py_END_CRITICAL_SECTION();\n"


def test_ownership():
    name = _t("ownership")
    assert macro(name, "release", var="x") == "Py_XDECREF(x);"
    assert macro(name, "release_and_return", var="x", stmt="return NULL;") == (
        "{ Py_XDECREF(x); return NULL; }")
    assert macro(name, "release_and_return_value", var="x", type="PyObject *", expr="f(x)") == (
        "{ PyObject *extmigrate_ret = f(x); Py_XDECREF(x); return extmigrate_ret; }")
    assert macro(name, "release_and_return_value", var="x", type="int", expr="g(x)") == (
        "{ int extmigrate_ret = g(x); Py_XDECREF(x); return extmigrate_ret; }")


def test_module_gil_pybind11_and_nanobind():
    assert render(_t("module_gil_pybind11"), namespace="py") == ", py::mod_gil_not_used()\n"
    assert render(_t("module_gil_nanobind")) == " FREE_THREADED\n"


def test_object_state_mutation():
    name = _t("object_state_mutation")
    assert macro(name, "begin", obj="self") == "Py_BEGIN_CRITICAL_SECTION(self);"
    assert macro(name, "end") == "Py_END_CRITICAL_SECTION();"
    assert macro(name, "wrapper", header="static void\nf(T *self, int n)", impl="f_impl", obj="self",
                 args=["self", "n"], rtype="void") == (
        "\n\nstatic void\nf(T *self, int n)\n{\n    Py_BEGIN_CRITICAL_SECTION(self);\n"
        "    f_impl(self, n);\n    Py_END_CRITICAL_SECTION();\n}")


def test_compat_header_holds_exactly_the_apis_asked_for():
    _t("extmigrate_compat.h")
    empty = header_text([])
    assert empty.startswith("/* extmigrate_compat.h:")
    assert "extmigrate-compat-apis: \n" in empty
    assert "#ifndef EXTMIGRATE_COMPAT_H\n#define EXTMIGRATE_COMPAT_H\n\n#include <Python.h>\n\n#endif" in empty
    one = header_text(["PyList_GetItemRef"])
    assert "extmigrate-compat-apis: PyList_GetItemRef\n" in one
    assert one.count("#  define ") == 1
    assert "#  define PyList_GetItemRef extmigrate_PyList_GetItemRef\n" in one
    assert "PyDict" not in one


def test_every_template_is_covered():
    names = {p.name.removesuffix(".c.j2").removesuffix(".j2")
             for p in resources.files("extmigrate").joinpath("templates").iterdir()
             if p.name.endswith(".j2")}
    assert names == COVERED
