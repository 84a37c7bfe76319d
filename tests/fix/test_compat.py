"""The compat header: oldest Python from the project, exactly the needed fallbacks, and fallbacks that
compile everywhere and behave like the real APIs (run on an old interpreter)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from extmigrate.fix import compat
from extmigrate.fix.compilecheck import header_dirs
from tests.conftest import header_pythons

ALL = sorted(compat.table())

USES = r"""
#include "extmigrate_compat.h"

static PyMutex lock;
static long counter;
static EXTMIGRATE_THREAD_LOCAL char scratch[16];

static PyObject *probe(PyObject *self, PyObject *args)
{
    PyObject *d, *l, *key, *missing, *value = NULL, *item, *got = NULL, *res;
    int found, absent, sd_old, sd_new;
    if (!PyArg_ParseTuple(args, "OOOO", &d, &l, &key, &missing))
        return NULL;
    found = PyDict_GetItemRef(d, key, &value);
    absent = PyDict_GetItemStringRef(d, "no such key", &got);
    item = PyList_GetItemRef(l, 0);
    if (item == NULL)
        return NULL;
    sd_old = PyDict_SetDefaultRef(d, key, missing, NULL);
    sd_new = PyDict_SetDefaultRef(d, missing, key, NULL);
    PyMutex_Lock(&lock);
    EXTMIGRATE_ATOMIC_ADD(&counter, 2);
    PyMutex_Unlock(&lock);
    scratch[0] = 'x';
    Py_BEGIN_CRITICAL_SECTION(d);
    res = Py_BuildValue("(iNiOiiiOl)", found, value, absent, got ? got : Py_None, sd_old, sd_new,
                        PyUnstable_Object_IsUniquelyReferenced(item), item,
                        EXTMIGRATE_ATOMIC_LOAD(&counter));
    Py_END_CRITICAL_SECTION();
    {
        EXTMIGRATE_CRITICAL_SECTION cs;
        EXTMIGRATE_CS_BEGIN(cs, l);
        EXTMIGRATE_CS_END(cs);
    }
    Py_DECREF(item);
    return res;
}

static PyObject *weak(PyObject *self, PyObject *ref)
{
    PyObject *obj = NULL;
    int r = PyWeakref_GetRef(ref, &obj);
    if (r < 0)
        return NULL;
    return Py_BuildValue("(iN)", r, obj ? obj : Py_NewRef(Py_None));
}

static PyObject *addmod(PyObject *self, PyObject *name)
{
    return PyImport_AddModuleRef(PyUnicode_AsUTF8(name));
}

static PyMethodDef methods[] = {
    {"probe", probe, METH_VARARGS, NULL},
    {"weak", weak, METH_O, NULL},
    {"addmod", addmod, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "compat_probe", NULL, -1, methods};
PyMODINIT_FUNC PyInit_compat_probe(void) { return PyModule_Create(&def); }
"""


def test_lower_bound_of_requires_python():
    assert compat.min_from_spec(">=3.9") == (3, 9)
    assert compat.min_from_spec(">=3.10, <4") == (3, 10)
    assert compat.min_from_spec("~=3.8.1") == (3, 8)
    assert compat.min_from_spec("<4") is None


def test_oldest_python_read_from_pyproject_or_setup_cfg(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "setup.cfg").write_text("[options]\npython_requires = >=3.8\n")
    assert compat.project_min_python(str(tmp_path / "src"))[0] == (3, 8)
    (tmp_path / "src" / "pyproject.toml").write_text('[project]\nname = "x"\nrequires-python = ">=3.11"\n')
    v, where = compat.project_min_python(str(tmp_path / "src"))
    assert v == (3, 11) and where.endswith("pyproject.toml")


def test_only_apis_newer_than_the_oldest_python_get_fallbacks():
    assert compat.needed({"PyDict_GetItemStringRef"}, (3, 9)) == ["PyDict_GetItemRef",
                                                                   "PyDict_GetItemStringRef"]
    assert compat.needed({"PyDict_GetItemRef", "Py_NewRef"}, (3, 10)) == ["PyDict_GetItemRef"]
    assert compat.needed({"PyDict_GetItemRef"}, (3, 13)) == []
    assert compat.needed({"PyUnstable_Object_IsUniquelyReferenced"}, (3, 13)) == [
        "PyUnstable_Object_IsUniquelyReferenced"]
    assert compat.needed({"EXTMIGRATE_THREAD_LOCAL"}, (3, 14)) == ["EXTMIGRATE_THREAD_LOCAL"]


def _compile(folder, include, defines=()):
    r = subprocess.run(["gcc", "-fsyntax-only", "-Wall", "-Werror=implicit-function-declaration",
                        "-I", include, *defines, str(folder / "probe.c")], capture_output=True, text=True)
    return r.returncode, r.stderr


def test_every_fallback_compiles_against_every_header_set(tmp_path):
    found = header_dirs()
    if shutil.which("gcc") is None or not found:
        pytest.skip("no gcc or no Python headers")
    (tmp_path / compat.HEADER_NAME).write_text(compat.header_text(ALL))
    (tmp_path / "probe.c").write_text(USES)
    for version, include in found:
        if version < (3, 8):
            continue
        rc, err = _compile(tmp_path, include)
        assert rc == 0, (include, err)
        if (3, 13) <= version and not include.endswith("t"):
            rc, err = _compile(tmp_path, include, ["-DPy_GIL_DISABLED=1"])
            assert rc == 0, (include, "Py_GIL_DISABLED", err)


def _old_python() -> str | None:
    """A discovered interpreter older than 3.13 (where the fallbacks are used), the running one first."""
    old = sorted((c for c in header_pythons() if c.version < (3, 13)), key=lambda c: c.python is not None)
    return old[0].exe if old else None


def test_fallbacks_behave_like_the_real_apis_on_an_old_python(tmp_path):
    exe = _old_python()
    if exe is None or shutil.which("gcc") is None:
        pytest.skip("no Python before 3.13 (the fallbacks are for those) or no gcc")
    info = subprocess.run([exe, "-c", "import sysconfig; print(sysconfig.get_paths()['include']); "
                           "print(sysconfig.get_config_var('EXT_SUFFIX'))"],
                          capture_output=True, text=True, check=True).stdout.split()
    (tmp_path / compat.HEADER_NAME).write_text(compat.header_text(ALL))
    (tmp_path / "probe.c").write_text(USES)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-I", info[0], str(tmp_path / "probe.c"), "-o",
                    str(tmp_path / ("compat_probe" + info[1]))], check=True)
    script = """
import compat_probe as p, weakref, sys
class C: pass
d = {"k": "v"}
found, value, absent, got, sd_old, sd_new, unique, item, counter = p.probe(d, [C()], "k", "m")
assert (found, value, absent, got) == (1, "v", 0, None), (found, value, absent, got)
assert (sd_old, sd_new, d) == (1, 0, {"k": "v", "m": "k"}), (sd_old, sd_new, d)
assert unique == 0 and isinstance(item, C) and counter == 2
try:
    p.probe({[]: 1} if False else {}, [], "k", "m")
except IndexError:
    pass
else:
    raise AssertionError("PyList_GetItemRef on an empty list must raise IndexError")
obj = C(); r = weakref.ref(obj)
assert p.weak(r) == (1, obj)
del obj
assert p.weak(r) == (0, None)
try:
    p.weak(42)
except TypeError:
    pass
else:
    raise AssertionError("PyWeakref_GetRef on a non-weakref must raise TypeError")
m = p.addmod("extmigrate_probe_module")
assert m is sys.modules["extmigrate_probe_module"] and sys.getrefcount(m) >= 3
print("ok")
"""
    r = subprocess.run([exe, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert r.stdout.strip() == "ok", r.stderr
