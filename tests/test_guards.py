"""The one guard analysis (analysis/locks.py decides what a lock is, analysis/guards.py what it guards),
on real C parsed by libclang: every question a rule can ask gets the same answer."""

from __future__ import annotations

import textwrap

from extmigrate.analysis.guards import guard_at, held
from extmigrate.analysis.locks import lock_names, releases_callers_lock
from extmigrate.parse import parse
from extmigrate.scan import ScanOptions, build_flags
from extmigrate.tree import TUView

CODE = """
#include <Python.h>
#include <pythread.h>
#ifndef Py_BEGIN_CRITICAL_SECTION
#define Py_BEGIN_CRITICAL_SECTION(op) {
#define Py_END_CRITICAL_SECTION() }
#endif
static PyThread_type_lock lock;
#if PY_VERSION_HEX >= 0x030D0000
static PyMutex mutex;
#define STATE_LOCK() PyMutex_Lock(&mutex)
#define STATE_UNLOCK() PyMutex_Unlock(&mutex)
#else
#define STATE_LOCK()
#define STATE_UNLOCK()
#endif
#define OBJ_LOCK(o) Py_BEGIN_CRITICAL_SECTION(o)
#define OBJ_UNLOCK() Py_END_CRITICAL_SECTION()
#define BARE_LOCK PyThread_acquire_lock(lock, WAIT_LOCK)
#define BARE_UNLOCK PyThread_release_lock(lock)
#define WITH_LOCK(stmt) do { BARE_LOCK; stmt; BARE_UNLOCK; } while (0)
static long n;
static void setup(void) { BARE_LOCK; }
static void teardown(void) { n++; BARE_UNLOCK; }

static int f(PyObject *self, PyObject *other) {
    n = 1;                                   /* mark: before */
    STATE_LOCK();
    if (n < 0) {
        STATE_UNLOCK();
        n = 2;                               /* mark: early-exit */
        return -1;
    }
    n = 3;                                   /* mark: version-macro */
    STATE_UNLOCK();
    OBJ_LOCK(self);
    n = 4;                                   /* mark: cs-macro */
    OBJ_UNLOCK();
    Py_BEGIN_CRITICAL_SECTION(other);
    n = 5;                                   /* mark: cs-other */
    Py_END_CRITICAL_SECTION();
    setup();
    n = 6;                                   /* mark: helper */
    teardown();
    BARE_LOCK;
    n = 7;                                   /* mark: bare-macro */
    BARE_UNLOCK;
    n = 8;                                   /* mark: after */
    return 0;
}
"""


def view(tmp_path) -> TUView:
    p = tmp_path / "m.c"
    p.write_text(textwrap.dedent(CODE))
    fs = build_flags(ScanOptions(paths=[str(tmp_path)]), [str(p)], [])
    return TUView(parse(fs.spec_for(str(p))), str(p), lambda f: f.startswith(str(tmp_path)))


def test_one_answer_for_every_lock_form(tmp_path):
    tu = view(tmp_path)
    fn = next(f for f in tu.functions if f.spelling == "f")
    text = tu.source(fn.path).decode("latin-1")

    def at(mark: str) -> int:
        return text.index("n = ", text.rindex("\n", 0, text.index(f"mark: {mark} ")))

    names = lock_names(tu)
    assert {"STATE_LOCK", "OBJ_LOCK", "BARE_LOCK", "setup"} <= names.locks
    assert {"STATE_UNLOCK", "OBJ_UNLOCK", "BARE_UNLOCK", "teardown"} <= names.unlocks
    assert "WITH_LOCK" not in names.locks | names.unlocks  # locks and unlocks: neither
    guarded = {m: (held(tu, fn, at(m)), guard_at(tu, fn, at(m)) is not None,
                   guard_at(tu, fn, at(m), "self") is not None)
               for m in ("before", "early-exit", "version-macro", "cs-macro", "cs-other", "helper",
                         "bare-macro", "after")}
    assert guarded == {
        "before": (False, False, False), "early-exit": (False, False, False),
        "version-macro": (True, True, True), "cs-macro": (True, True, True),
        "cs-other": (False, True, False),  # a critical section on another object guards only it
        "helper": (True, True, True), "bare-macro": (True, True, True), "after": (False, False, False)}
    teardown = next(f for f in tu.functions if f.spelling == "teardown")
    assert releases_callers_lock(tu, teardown) and held(tu, teardown, text.index("n++", teardown.start))
