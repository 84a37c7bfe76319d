"""FT301 static-mutable-global on real C through a real scan."""

from __future__ import annotations

import pytest

from tests.conftest import before, header_params

METHODS = """
static PyMethodDef methods[] = {
    {"f", (PyCFunction)f, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "m", NULL, -1, methods};
PyMODINIT_FUNC PyInit_m(void) { return PyModule_Create(&moddef); }
"""


def ft3(res, code="FT301"):
    return {f.symbol: f for f in res.findings if f.code == code}


def module(body: str, head: str = "") -> str:
    """A module whose method f (in a PyMethodDef table) runs `body`."""
    return ("#include <Python.h>\n" + head +
            "\nstatic PyObject *f(PyObject *self, PyObject *unused) {\n" + body +
            "\n    Py_RETURN_NONE;\n}\n" + METHODS)


def test_counter_in_a_method_is_one_finding_with_every_write(scan_c, tmp_path):
    code = module("    ncalls++;\n    ncalls += 2;\n    total = ncalls;", "static long ncalls;\nlong total;")
    res = scan_c(code, select=["FT301"])
    found = ft3(res)
    assert sorted(found) == ["ncalls", "total"]
    f = found["ncalls"]
    assert (f.line, f.column, f.function) == (2, 1, None)
    assert [s.line for s in f.related] == [5, 6]
    assert f.data["kind"] == "counter" and f.data["scope"] == "file"
    src = (tmp_path / "mod.c").read_text()
    assert [src[w["start"]:w["start"] + 6] for w in f.data["writes"]] == ["ncalls", "ncalls"]
    assert src[f.data["decl"]["start"]:f.data["decl"]["end"]] == "static long ncalls"
    assert found["total"].data["scope"] == "global"


def test_helper_called_from_init_and_from_a_method_is_reported(scan_c):
    code = """
    #include <Python.h>
    static int level;
    static void setup(int v) { level = v; }
    static PyObject *reset(PyObject *self, PyObject *u) { setup(0); Py_RETURN_NONE; }
    static PyMethodDef methods[] = {{"reset", reset, METH_NOARGS, NULL}, {NULL}};
    static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "m", NULL, -1, methods};
    PyMODINIT_FUNC PyInit_m(void) { setup(1); return PyModule_Create(&moddef); }
    """
    f = ft3(scan_c(code, select=["FT301"]))["level"]
    assert [s.note for s in f.related] == ["assigned in setup() without a lock"]


GUARDS = {
    "pymutex": ("static PyMutex mu;", "PyMutex_Lock(&mu);", "PyMutex_Unlock(&mu);"),
    "pthread": ("#include <pthread.h>\nstatic pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;",
                "pthread_mutex_lock(&mu);", "pthread_mutex_unlock(&mu);"),
    "pythread": ("#include <pythread.h>\nstatic PyThread_type_lock lk;",
                 "PyThread_acquire_lock(lk, WAIT_LOCK);", "PyThread_release_lock(lk);"),
    "critical_section_mutex": ("static PyMutex mu;", "Py_BEGIN_CRITICAL_SECTION_MUTEX(&mu);",
                               "Py_END_CRITICAL_SECTION();"),
    "critical_section": ("", "Py_BEGIN_CRITICAL_SECTION(self);", "Py_END_CRITICAL_SECTION();"),
    "wrapper_macros": ("#include <pythread.h>\nstatic PyThread_type_lock lk;\n"
                       "#define STATE_LOCK() PyThread_acquire_lock(lk, WAIT_LOCK)\n"
                       "#define STATE_UNLOCK() PyThread_release_lock(lk)", "STATE_LOCK();", "STATE_UNLOCK();"),
    "wrapper_functions": ("static PyMutex mu;\nstatic void take(void) { PyMutex_Lock(&mu); }\n"
                          "static void give(void) { PyMutex_Unlock(&mu); }", "take();", "give();"),
}


# The Python that added a guard's API; older headers scan it with parse errors allowed.
GUARD_SINCE = {"pymutex": (3, 13), "critical_section": (3, 13), "wrapper_functions": (3, 13),
               "critical_section_mutex": (3, 14)}


@pytest.mark.parametrize("guard,python", [pytest.param(g, h.values[0], id=f"{g}-{h.id}") for g in sorted(GUARDS)
                                          for h in header_params(GUARD_SINCE.get(g, (0, 0)))])
def test_lock_guards(scan_c, guard, python):
    head, lock, unlock = GUARDS[guard]
    guarded = module(f"    {lock}\n    hits++;\n    {unlock}", head + "\nstatic long hits;")
    assert ft3(scan_c(guarded, select=["FT301"], headers=python)) == {}


@pytest.mark.parametrize("guard", sorted(GUARDS))
def test_write_outside_the_lock_is_still_reported(scan_c, guard):
    head, lock, unlock = GUARDS[guard]
    code = module(f"    {lock}\n    hits++;\n    {unlock}\n    hits = 0;", head + "\nstatic long hits;")
    f = ft3(scan_c(code, select=["FT301"], parse_errors_ok=before(GUARD_SINCE.get(guard, (0, 0)))))["hits"]
    assert [s.note for s in f.related] == ["assigned in f() without a lock"]


@pytest.mark.parametrize("guard", sorted(g for g in GUARDS if not g.startswith("critical_section")))
def test_early_exit_unlock_keeps_the_rest_guarded(scan_c, guard):
    # The shape of ciso8601's tz_cache after `extmigrate fix`: an error branch unlocks and returns,
    # the store after it is still under the lock; a store after the final unlock is not. (Critical
    # sections open a block: they cannot end early.)
    head, lock, unlock = GUARDS[guard]
    body = (f"    {lock}\n    if (cache[0] == NULL) {{\n        PyObject *v = PyLong_FromLong(1);\n"
            f"        if (v == NULL) {{ {unlock} return NULL; }}\n        cache[0] = v;\n    }}\n    {unlock}")
    old = before(GUARD_SINCE.get(guard, (0, 0)))
    code = module(body, head + "\nstatic PyObject *cache[4];")
    assert ft3(scan_c(code, select=["FT301"], parse_errors_ok=old)) == {}
    code = module(body + "\n    cache[1] = NULL;", head + "\nstatic PyObject *cache[4];")
    assert list(ft3(scan_c(code, select=["FT301"], parse_errors_ok=old))) == ["cache"]


ATOMICS = {
    "c11_type": ("#include <stdatomic.h>\nstatic _Atomic long hits;", "hits++; hits += 2;"),
    "c11_typedef": ("#include <stdatomic.h>\nstatic atomic_long hits;",
                    "atomic_fetch_add(&hits, 1);"),
    "gcc_atomic": ("static long hits;", "__atomic_fetch_add(&hits, 1, __ATOMIC_RELAXED);"),
    "gcc_sync": ("static long hits;", "__sync_fetch_and_add(&hits, 1);"),
    "msvc": ("static long hits;", "InterlockedIncrement(&hits);"),
    "py_atomic": ("static int hits;", "_Py_atomic_add_int(&hits, 1);"),
    "thread_local_c11": ("static _Thread_local long hits;", "hits++;"),
    "thread_local_gnu": ("static __thread long hits;", "hits++;"),
    "thread_local_declspec": ("static __declspec(thread) long hits;", "hits++;"),
    "thread_local_py": ("static Py_thread_local long hits;", "hits++;"),
}


# Forms that never parse cleanly here (MSVC's, a project's own macro whose header is not found):
# found by name all the same.
FOREIGN = {"msvc", "thread_local_declspec", "thread_local_py"}
ATOMIC_SINCE = {"py_atomic": (3, 13)}


@pytest.mark.parametrize("form,python", [pytest.param(f, h.values[0], id=f"{f}-{h.id}") for f in sorted(ATOMICS)
                                         for h in header_params(ATOMIC_SINCE.get(f, (0, 0)))])
def test_atomic_and_thread_local_writes_are_fine(scan_c, form, python):
    head, body = ATOMICS[form]
    res = scan_c(module("    " + body, head), select=["FT3"], headers=python, parse_errors_ok=form in FOREIGN)
    assert res.findings == []


UNGUARDED_TWIN = {  # the same variable without the qualifier / with a plain write beside the atomic one
    "c11_type": ("static long hits;", "hits++; hits += 2;"),
    "c11_typedef": ("static long hits;", "hits++;"),
    "gcc_atomic": ("static long hits;", "__atomic_fetch_add(&hits, 1, __ATOMIC_RELAXED); hits = 0;"),
    "gcc_sync": ("static long hits;", "__sync_fetch_and_add(&hits, 1); hits = 0;"),
    "msvc": ("static long hits;", "InterlockedIncrement(&hits); hits = 0;"),
    "py_atomic": ("static int hits;", "_Py_atomic_add_int(&hits, 1); hits = 0;"),
    "thread_local_c11": ("static long hits;", "hits++;"),
    "thread_local_gnu": ("static long hits;", "hits++;"),
    "thread_local_declspec": ("static long hits;", "hits++;"),
    "thread_local_py": ("static long hits;", "hits++;"),
}


@pytest.mark.parametrize("form", sorted(UNGUARDED_TWIN))
def test_unguarded_twin_of_each_atomic_form_is_reported(scan_c, form):
    head, body = UNGUARDED_TWIN[form]
    old = form in FOREIGN or before(ATOMIC_SINCE.get(form, (0, 0)))
    f = ft3(scan_c(module("    " + body, head), select=["FT301"], parse_errors_ok=old))["hits"]
    assert all("without a lock" in s.note for s in f.related)
    assert len(f.related) == (1 if "= 0" in body else body.count("hits"))


def test_cxx_atomic_and_thread_local(scan_c):
    code = """
    #include <Python.h>
    #include <atomic>
    static std::atomic<long> hits;
    static thread_local long mine;
    static long plain;
    static PyObject *f(PyObject *self, PyObject *u) { hits++; mine++; plain++; Py_RETURN_NONE; }
    static PyMethodDef methods[] = {{"f", f, METH_NOARGS, NULL}, {NULL}};
    """
    res = scan_c({"mod.cpp": code}, select=["FT3"])
    assert [f.symbol for f in res.findings] == ["plain"]


def test_type_objects_and_tables_are_not_findings(scan_c):
    code = """
    #include <Python.h>
    static PyTypeObject Foo_Type = {PyVarObject_HEAD_INIT(NULL, 0) "m.Foo"};
    static PyMethodDef extra[] = {{NULL}};
    static PyObject *f(PyObject *self, PyObject *u) {
        Foo_Type.tp_doc = "x"; extra[0].ml_name = "y"; Py_RETURN_NONE;
    }
    static PyMethodDef methods[] = {{"f", f, METH_NOARGS, NULL}, {NULL}};
    """
    assert scan_c(code, select=["FT3"]).findings == []


def test_function_static_counter(scan_c):
    code = module("    static int calls = 0;\n    calls++;")
    f = ft3(scan_c(code, select=["FT301"]))["calls"]
    assert f.function == "f" and f.data["scope"] == "function" and f.data["kind"] == "counter"


def test_helper_only_called_with_the_lock_held(scan_c):
    code = """
    #include <Python.h>
    static PyMutex mu;
    static long hits, misses;
    static void count_hit(void) { hits++; }      /* callers hold mu */
    static void count_miss(void) { misses++; }
    static PyObject *f(PyObject *self, PyObject *u) {
        PyMutex_Lock(&mu);
        count_hit();
        PyMutex_Unlock(&mu);
        count_miss();
        Py_RETURN_NONE;
    }
    static PyMethodDef methods[] = {{"f", f, METH_NOARGS, NULL}, {NULL}};
    """
    res = scan_c(code, select=["FT3"], parse_errors_ok=before((3, 13)))
    assert [f.symbol for f in res.findings] == ["misses"]


def test_writes_only_compiled_on_gil_builds_are_not_findings(scan_c):
    code = module("""
    #if PY_VERSION_HEX < 0x030D0000
        old_only++;
    #endif
    #ifndef Py_GIL_DISABLED
        gil_only++;
    #endif
    #if PY_VERSION_HEX >= 0x030D0000 || defined(PYPY_VERSION)
        ft_too++;
    #endif
        ft_too++;""", "static long old_only, gil_only, ft_too;")
    assert [f.symbol for f in scan_c(code, select=["FT3"]).findings] == ["ft_too"]
