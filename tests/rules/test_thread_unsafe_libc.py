"""FT512 thread-unsafe-libc on real C through a real scan."""

from __future__ import annotations

CODE = """
#include <Python.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <pwd.h>
#include <pthread.h>
#include <locale.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *home;

static int count_words(char *s) {
    int n = 0;
    for (char *t = strtok(s, " "); t; t = strtok(NULL, " ")) n++;
    return n;
}
static PyObject *words(PyObject *self, PyObject *arg) {
    char buf[100];
    strncpy(buf, PyUnicode_AsUTF8(arg), sizeof buf - 1);
    return PyLong_FromLong(count_words(buf));
}
static PyObject *hour(PyObject *self, PyObject *unused) {
    time_t now = time(NULL);
    struct tm *t = localtime(&now);
    struct tm safe;
    gmtime_r(&now, &safe);
    return PyLong_FromLong(t->tm_hour + safe.tm_hour);
}
static PyObject *user(PyObject *self, PyObject *unused) {
    pthread_mutex_lock(&lock);
    struct passwd *pw = getpwuid(0);
    PyObject *res = PyUnicode_FromString(pw ? pw->pw_name : "");
    pthread_mutex_unlock(&lock);
    return res;
}
static void read_config(void) { home = getenv("HOME"); }
static int mod_exec(PyObject *m) { read_config(); srand(42); return 0; }
static PyMethodDef methods[] = {
    {"words", words, METH_O, NULL},
    {"hour", hour, METH_NOARGS, NULL},
    {"user", user, METH_NOARGS, NULL},
    {NULL}
};
static PyModuleDef_Slot slots[] = {{Py_mod_exec, mod_exec}, {0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, 0, methods, slots};
PyMODINIT_FUNC PyInit_m(void) { setlocale(LC_ALL, ""); return PyModuleDef_Init(&def); }
"""


def test_calls_reachable_after_init(scan_c):
    res = scan_c(CODE, select=["FT512"])
    got = [(f.function, f.symbol, f.severity) for f in res.findings]
    # strtok twice in the helper Python reaches through words(); localtime in hour().
    # Not: gmtime_r, getpwuid under the mutex, getenv/srand only run by the exec slot, setlocale in
    # PyInit.
    assert got == [("count_words", "strtok", "warning"), ("count_words", "strtok", "warning"),
                   ("hour", "localtime", "warning")]
    assert "localtime_r" in res.findings[2].message


def test_project_function_of_the_same_name_and_notes(scan_c):
    code = """
#include <Python.h>
#include <stdlib.h>
long lrand48(void) { return 4; }  /* the project defines its own */
static PyObject *roll(PyObject *self, PyObject *unused) { return PyLong_FromLong(lrand48()); }
static PyObject *env(PyObject *self, PyObject *name) {
    const char *v = getenv(PyUnicode_AsUTF8(name));
    return PyUnicode_FromString(v ? v : "");
}
static PyObject *set(PyObject *self, PyObject *name) { setenv("X", "1", 1); Py_RETURN_NONE; }
static PyMethodDef methods[] = {{"roll", roll, METH_NOARGS, NULL}, {"env", env, METH_O, NULL},
                                {"set", set, METH_O, NULL}, {NULL}};
"""
    res = scan_c(code, select=["FT512"])
    assert [(f.symbol, f.severity) for f in res.findings] == [("getenv", "note"), ("setenv", "warning")]


def test_lock_taken_by_project_macros_and_helpers(scan_c):
    code = """
#include <Python.h>
#include <utmpx.h>
#ifdef Py_GIL_DISABLED
static PyMutex utx_lock;
#  define UTX_LOCK() PyMutex_Lock(&utx_lock)
#  define UTX_UNLOCK() PyMutex_Unlock(&utx_lock)
#else
#  define UTX_LOCK()
#  define UTX_UNLOCK()
#endif
static void setup(void) { UTX_LOCK(); setutxent(); }
static void teardown(void) { endutxent(); UTX_UNLOCK(); }
static int count(void) {
    int n = 0;
    UTX_LOCK();
    if (getutxent() == NULL) { UTX_UNLOCK(); return -1; }
    while (getutxent() != NULL) n++;
    UTX_UNLOCK();
    return n;
}
static PyObject *users(PyObject *self, PyObject *args) {
    struct utmpx *ut;
    setup();
    while ((ut = getutxent()) != NULL) { }
    teardown();
    setutxent();  /* after the helper released the lock */
    return PyLong_FromLong(count());
}
static PyMethodDef methods[] = {{"users", users, METH_NOARGS, NULL}, {NULL}};
"""
    res = scan_c(code, select=["FT512"])
    assert [(f.function, f.symbol, f.line) for f in res.findings] == [("users", "setutxent", 27)]
