"""FT101 borrowed-list-item on real C files, with every discovered Python's headers."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

PYTHONS = header_params()

HEAD = """
#include <Python.h>
typedef struct { PyObject_HEAD PyObject *items; PyObject *cache; } Obj;
extern int register_list(PyObject *list);
"""


def where(body: str, needle: str) -> tuple[int, int]:
    """(line, column) of `needle` in the scanned file."""
    head = (HEAD + body)[:(HEAD + body).index(needle)]
    return head.count("\n") + 1, len(head) - head.rfind("\n")


def ft101(scan_c, body, **kw):
    res = scan_c(HEAD + body, select=["FT101"], **kw)
    return [f for f in res.findings if f.code == "FT101"]


@pytest.mark.parametrize("python", PYTHONS)
def test_field_list_is_reported_with_data_for_the_fix(scan_c, python):
    body = """
    static PyObject *get(Obj *self, PyObject *arg) {
        Py_ssize_t i = PyLong_AsSsize_t(arg);
        PyObject *item = PyList_GetItem(self->items, i);
        if (item == NULL) return NULL;
        Py_INCREF(item);
        return item;
    }
    """
    found = ft101(scan_c, body, headers=python)
    assert len(found) == 1
    f = found[0]
    assert f.symbol == "PyList_GetItem(self->items)" and f.function == "get"
    assert (f.line, f.column) == where(body, "PyList_GetItem(")
    assert "PyList_GetItem(self->items, i) returns a borrowed reference" in f.message
    assert "'self->items'" in f.message and "PyList_GetItemRef (3.13+" in f.message
    assert f.data["container"] == "self->items" and f.data["args"] == ["self->items", "i"]
    assert f.data["result_var"] == "item" and f.data["result_use"] == "incref"
    assert f.data["replacement"] == "PyList_GetItemRef" and f.data["since"] == "3.13"


@pytest.mark.parametrize("python", PYTHONS)
def test_macro_on_an_argument_list_is_reported(scan_c, python):
    found = ft101(scan_c, """
    static PyObject *first(PyObject *self, PyObject *seq) {
        if (!PyList_Check(seq) || PyList_GET_SIZE(seq) == 0) return NULL;
        return PyList_GET_ITEM(seq, 0);
    }
    static PyMethodDef methods[] = {{"first", (PyCFunction)first, METH_O, NULL}, {NULL}};
    """, headers=python)
    assert [f.symbol for f in found] == ["PyList_GET_ITEM(seq)"]
    assert found[0].data["macro"] is True and found[0].data["result_use"] == "returned"
    assert "Py_BEGIN_CRITICAL_SECTION(seq)" in found[0].message


def test_list_stored_in_a_field_before_the_use_is_reported(scan_c):
    found = ft101(scan_c, """
    static PyObject *keep(Obj *self, PyObject *arg) {
        PyObject *lst = PyList_New(0);
        PyList_Append(lst, arg);
        self->items = lst;
        return Py_NewRef(PyList_GET_ITEM(lst, 0));
    }
    """)
    assert [f.symbol for f in found] == ["PyList_GET_ITEM(lst)"]
    assert found[0].related and found[0].related[0].line == 9
    assert "made reachable" in found[0].related[0].note


def test_passing_to_unknown_code_publishes_but_a_local_helper_that_keeps_nothing_does_not(scan_c):
    found = ft101(scan_c, """
    static int add_two(PyObject *out, PyObject *v) {
        if (PyList_Append(out, v) < 0) return -1;
        return PyList_Append(out, v);
    }
    static PyObject *a(PyObject *self, PyObject *arg) {
        PyObject *lst = PyList_New(0);
        add_two(lst, arg);
        return Py_NewRef(PyList_GET_ITEM(lst, 1));
    }
    static PyObject *b(PyObject *self, PyObject *arg) {
        PyObject *lst = PyList_New(0);
        register_list(lst);
        return Py_NewRef(PyList_GET_ITEM(lst, 1));
    }
    """)
    assert [(f.function, f.symbol) for f in found] == [("b", "PyList_GET_ITEM(lst)")]


def test_helper_returning_new_numbers_strings_none_or_a_new_list_gives_a_private_list(scan_c):
    # Reduced from pycurl's getinfo(): getinfo_raw() returns a new int, float, bytes, None or a list
    # it built; getinfo() hands that list to a static decoder. A helper that may return a shared
    # list keeps the decoder's read reported.
    found = ft101(scan_c, """
    static PyObject *shared_list;
    static PyObject *to_list(const char **names, int n) {
        PyObject *r = PyList_New(0);
        for (int i = 0; r && i < n; i++) {
            PyObject *s = PyBytes_FromString(names[i]);
            if (s == NULL || PyList_Append(r, s) < 0) { Py_XDECREF(s); Py_DECREF(r); return NULL; }
            Py_DECREF(s);
        }
        return r;
    }
    static PyObject *decode(PyObject *list) {
        PyObject *out = PyList_New(PyList_Size(list));
        for (Py_ssize_t i = 0; out && i < PyList_GET_SIZE(out); i++)
            PyList_SET_ITEM(out, i, PyUnicode_FromEncodedObject(PyList_GET_ITEM(list, i), NULL, NULL));
        return out;
    }
    static PyObject *decode2(PyObject *list) {
        return Py_XNewRef(PyList_GetItem(list, 0));
    }
    PyObject *getinfo_raw(PyObject *self, PyObject *args) {
        int option = (int)PyLong_AsLong(args);
        const char *names[] = {"a", "b"};
        switch (option) {
        case 0: return PyLong_FromLong(1);
        case 1: return PyFloat_FromDouble(1.5);
        case 2: return PyBytes_FromString("x");
        case 3: Py_RETURN_NONE;
        default: return to_list(names, 2);
        }
    }
    static PyObject *maybe_shared(PyObject *args) {
        if (args == NULL) return Py_NewRef(shared_list);
        return PyLong_FromLong(0);
    }
    PyObject *getinfo(PyObject *self, PyObject *args) {
        PyObject *rv = getinfo_raw(self, args);
        if (rv == NULL || !PyList_Check(rv)) return rv;
        PyObject *decoded = decode(rv);
        Py_DECREF(rv);
        PyObject *other = maybe_shared(args);
        PyObject *first = decode2(other);
        Py_DECREF(other);
        Py_XDECREF(first);
        return decoded;
    }
    """)
    assert [(f.function, f.symbol) for f in found] == [("decode2", "PyList_GetItem(list)")]


@pytest.mark.parametrize("python", header_params((3, 13)))  # critical sections, PyMutex
def test_critical_sections_and_locks_guard_the_access(scan_c, python):
    found = ft101(scan_c, """
    static PyMutex mutex;
    static PyObject *cs(Obj *self, PyObject *unused) {
        PyObject *r;
        Py_BEGIN_CRITICAL_SECTION(self->items);
        r = Py_NewRef(PyList_GET_ITEM(self->items, 0));
        Py_END_CRITICAL_SECTION();
        return r;
    }
    static PyObject *owner(Obj *self, PyObject *unused) {
        PyObject *r;
        Py_BEGIN_CRITICAL_SECTION(self);
        r = Py_NewRef(PyList_GET_ITEM(self->items, 0));
        Py_END_CRITICAL_SECTION();
        return r;
    }
    static PyObject *other(Obj *self, PyObject *unused) {
        PyObject *r;
        Py_BEGIN_CRITICAL_SECTION(self->cache);
        r = Py_NewRef(PyList_GET_ITEM(self->items, 0));
        Py_END_CRITICAL_SECTION();
        return r;
    }
    static PyObject *locked(Obj *self, PyObject *unused) {
        PyMutex_Lock(&mutex);
        PyObject *r = Py_NewRef(PyList_GET_ITEM(self->items, 0));
        PyMutex_Unlock(&mutex);
        return r;
    }
    """, headers=python)
    assert [f.function for f in found] == ["other"]


def test_lock_taken_through_a_project_macro_guards(scan_c):
    found = ft101(scan_c, """
    static PyThread_type_lock lock;
    #define LOCK_ITEMS() PyThread_acquire_lock(lock, 1)
    #define UNLOCK_ITEMS() PyThread_release_lock(lock)
    static PyObject *get(Obj *self, PyObject *unused) {
        LOCK_ITEMS();
        PyObject *r = Py_NewRef(PyList_GetItem(self->items, 0));
        UNLOCK_ITEMS();
        PyObject *s = PyList_GetItem(self->items, 1);
        Py_DECREF(r);
        return Py_NewRef(s);
    }
    """)
    assert [f.line for f in found] == [13]


def test_code_compiled_only_for_old_or_gil_builds_is_not_reported(scan_c):
    found = ft101(scan_c, """
    #if PY_VERSION_HEX < 0x030D00A4
    static inline PyObject *PyList_GetItemRef(PyObject *op, Py_ssize_t i) {
        PyObject *item = PyList_GetItem(op, i);
        Py_XINCREF(item);
        return item;
    }
    #endif
    static PyObject *get(Obj *self, PyObject *unused) {
    #ifdef Py_GIL_DISABLED
        return PyList_GetItemRef(self->items, 0);
    #else
        return Py_NewRef(PyList_GET_ITEM(self->items, 0));
    #endif
    }
    static PyObject *get2(Obj *self, PyObject *unused) {
    #if defined(Py_LIMITED_API) || PY_VERSION_HEX >= 0x030D0000
        return PyList_GetItemRef(self->items, 0);
    #else
        return Py_NewRef(PyList_GET_ITEM(self->items, 0));
    #endif
    }
    static PyObject *get3(Obj *self, PyObject *unused) {
    #if defined(WITH_FAST_PATH)
        return NULL;
    #else
        return Py_NewRef(PyList_GET_ITEM(self->items, 0));
    #endif
    }
    """)
    assert [f.function for f in found] == ["get3"]


def test_wrapped_function_name_and_calls_in_macro_arguments_are_located(scan_c):
    body = """
    #define F(name) name
    #define CHECK(x) do { if (!(x)) return NULL; } while (0)
    static PyObject *get(Obj *self, PyObject *unused) {
        PyObject *v = F(PyList_GetItem)(self->items, 0);
        CHECK(PyObject_IsTrue(PyList_GetItem(self->cache, 1)));
        return Py_NewRef(v);
    }
    """
    found = ft101(scan_c, body)
    assert [(f.line, f.column, f.symbol) for f in found] == [
        (*where(body, "PyList_GetItem)"), "PyList_GetItem(self->items)"),
        (*where(body, "PyList_GetItem(self->cache"), "PyList_GetItem(self->cache)")]
    assert found[0].data["result_var"] == "v" and found[0].data["result_use"] == "incref"


def test_call_written_in_a_project_macro_body_is_reported_at_the_macro_use(scan_c):
    found = ft101(scan_c, """
    #define FIRST(out, o) do { out = PyList_GetItem((o)->items, 0); } while (0)
    static PyObject *get(Obj *self, PyObject *unused) {
        PyObject *v;
        FIRST(v, self);
        return Py_NewRef(v);
    }
    """)
    assert [(f.line, f.symbol) for f in found] == [(9, "PyList_GetItem(self->items)")]
    assert found[0].data["in_macro_body"] is True


def test_helper_in_another_file_is_judged_by_what_it_returns(scan_c):
    # Reduced from pycurl: getinfo_raw() (info.c) returns new numbers, a list it built, or what
    # long_from_socket() returns, which util.c defines; getinfo() hands a list result to a static
    # decoder. Only the other file can say the decoder's list is private.
    info = """
    #include <Python.h>
    PyObject *long_from_socket(int fd);
    static PyObject *to_list(int n) {
        PyObject *r = PyList_New(0);
        for (int i = 0; r && i < n; i++) {
            PyObject *v = PyLong_FromLong(i);
            if (v == NULL || PyList_Append(r, v) < 0) { Py_XDECREF(v); Py_DECREF(r); return NULL; }
            Py_DECREF(v);
        }
        return r;
    }
    PyObject *getinfo_raw(PyObject *self, PyObject *args) {
        int option = (int)PyLong_AsLong(args);
        switch (option) {
        case 0: return PyFloat_FromDouble(1.5);
        case 1: return long_from_socket(option);
        default: return to_list(option);
        }
    }
    static PyObject *decode(PyObject *list) {
        PyObject *out = PyList_New(PyList_Size(list));
        for (Py_ssize_t i = 0; out && i < PyList_GET_SIZE(out); i++)
            PyList_SET_ITEM(out, i, PyUnicode_FromEncodedObject(PyList_GET_ITEM(list, i), NULL, NULL));
        return out;
    }
    PyObject *getinfo(PyObject *self, PyObject *args) {
        PyObject *rv = getinfo_raw(self, args);
        if (rv == NULL || !PyList_Check(rv)) return rv;
        PyObject *decoded = decode(rv);
        Py_DECREF(rv);
        return decoded;
    }
    """
    fresh = """
    #include <Python.h>
    PyObject *long_from_socket(int fd) {
    #if defined(_WIN32)
        if (fd < 0) return PyLong_FromLong(-1);
    #endif
        return PyLong_FromLongLong((long long)fd);
    }
    """
    shared = """
    #include <Python.h>
    PyObject *sockets;  /* a list other code fills */
    PyObject *long_from_socket(int fd) {
        if (fd < 0) return PyLong_FromLong(-1);
        return Py_NewRef(PyList_GET_ITEM(sockets, fd));
    }
    PyObject *add(PyObject *self, PyObject *s) { return PyList_Append(sockets, s) ? NULL : Py_NewRef(s); }
    """
    def found(files):  # scan_c keeps earlier files: util.c is only ever overwritten
        res = scan_c(files, select=["FT101"])
        return sorted((f.function, f.symbol) for f in res.findings if f.code == "FT101")

    # defined in no scanned file: nothing is known about what it returns
    assert found({"info.c": info}) == [("decode", "PyList_GET_ITEM(list)")]
    assert found({"info.c": info, "util.c": fresh}) == []
    # the other file's helper may hand out an item of a shared list: the decoder's read stays
    assert found({"info.c": info, "util.c": shared}) == [("decode", "PyList_GET_ITEM(list)"),
                                                         ("long_from_socket", "PyList_GET_ITEM(sockets)")]


def test_non_static_function_is_judged_by_every_call_in_the_project(scan_c):
    lib = """
    #include <Python.h>
    PyObject *first(PyObject *self, PyObject *list) {
        if (PyList_GET_SIZE(list) == 0) Py_RETURN_NONE;
        return Py_NewRef(PyList_GET_ITEM(list, 0));
    }
    """
    user = """
    #include <Python.h>
    PyObject *first(PyObject *self, PyObject *list);
    PyObject *head(PyObject *self, PyObject *seq) {
        PyObject *l = PySequence_List(seq);
        if (l == NULL) return NULL;
        PyObject *r = first(self, l);
        Py_DECREF(l);
        return r;
    }
    %s
    """

    def found(more=""):
        res = scan_c({"lib.c": lib, "user.c": user % more}, select=["FT101"])
        return [(f.function, f.symbol) for f in res.findings if f.code == "FT101"]

    assert found() == []
    # exposed to Python as a method too: any list can come in
    assert found('static PyMethodDef methods[] = {{"first", (PyCFunction)first, METH_O, NULL}, {NULL}};') \
        == [("first", "PyList_GET_ITEM(list)")]
    # another call passes a global list a function replaces at any time
    assert found("""
    PyObject *cached = NULL;
    PyObject *top(PyObject *s, PyObject *a) { return first(s, cached); }
    PyObject *set(PyObject *s, PyObject *a) { Py_XSETREF(cached, Py_NewRef(a)); Py_RETURN_NONE; }
    """) == [("first", "PyList_GET_ITEM(list)")]


def test_header_finding_is_not_cleared_by_facts_one_includer_relies_on(scan_c):
    # One finding is kept per header position: a.c's call would be private given util.c, b.c's is not.
    res = scan_c({
        "helpers.h": """
        static inline PyObject *first(PyObject *l) { return Py_NewRef(PyList_GET_ITEM(l, 0)); }
        """,
        "a.c": """
        #include <Python.h>
        #include "helpers.h"
        PyObject *make(void);
        PyObject *head(PyObject *self, PyObject *unused) {
            PyObject *l = make();
            PyObject *r = l ? first(l) : NULL;
            Py_XDECREF(l);
            return r;
        }
        """,
        "util.c": """
        #include <Python.h>
        PyObject *make(void) { return Py_BuildValue("[i]", 1); }
        """,
        "b.c": """
        #include <Python.h>
        #include "helpers.h"
        static PyObject *items;
        static PyObject *put(PyObject *self, PyObject *l) { Py_XSETREF(items, Py_NewRef(l)); Py_RETURN_NONE; }
        static PyObject *top(PyObject *self, PyObject *unused) { return first(items); }
        static PyMethodDef methods[] = {{"put", put, METH_O, NULL}, {"top", top, METH_NOARGS, NULL}, {NULL}};
        """}, select=["FT101"])
    assert [(f.path.rsplit("/", 1)[-1], f.symbol) for f in res.findings] == \
        [("helpers.h", "PyList_GET_ITEM(l)")]


@pytest.mark.parametrize("python", PYTHONS)
def test_result_use_is_read_from_the_ast(scan_c, python):
    """A Py_INCREF through a cast is an incref; a result kept in another local that is only
    compared counts as compared; a `?:` that only tests the result is a test (no finding)."""
    found = ft101(scan_c, """
    static PyObject *cast(Obj *self, PyObject *unused) {
        PyObject *item = PyList_GetItem(self->items, 0);
        if (item == NULL) return NULL;
        Py_INCREF((PyObject *)(item));
        return item;
    }
    static PyObject *alias(Obj *self, PyObject *x) {
        PyObject *item = PyList_GetItem(self->items, 0);
        PyObject *first = item;
        return PyBool_FromLong(first == x);
    }
    static PyObject *test(Obj *self, PyObject *unused) {
        PyObject *r = PyList_GetItem(self->items, 0) ? Py_True : Py_False;
        return Py_NewRef(r);
    }
    static PyMethodDef methods[] = {{"cast", (PyCFunction)cast, METH_NOARGS, NULL},
        {"alias", (PyCFunction)alias, METH_O, NULL}, {"test", (PyCFunction)test, METH_NOARGS, NULL}, {NULL}};
    """, headers=python)
    assert [(f.function, f.data["result_var"], f.data["result_use"]) for f in found] == [("cast", "item", "incref")]
