"""The same findings whatever way a scan runs: cold or warm cache, one worker or several, with a
precompiled Python.h prelude or a plain parse.  On real C: the shipped legacy sample extension."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from extmigrate.discover import discover
from extmigrate.engine import analyse, project_filter
from extmigrate.parse import with_pch
from extmigrate.rules import select_rules
from extmigrate.scan import ScanOptions, build_flags, scan

LEGACY = Path(__file__).resolve().parents[1] / "sample_ext" / "src" / "legacy" / "_lru.c"

SHARED_H = """\
#ifndef SHARED_H
#define SHARED_H
#include <Python.h>
static PyObject *shared_cache;
static int shared_calls;
static inline PyObject *first(PyObject *list) { return PyList_GetItem(list, 0); }
#endif
"""

USER_C = """\
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "shared.h"
static PyObject *use_{n}(PyObject *self, PyObject *args) {{
    shared_calls++;
    if (shared_cache == NULL) shared_cache = PyDict_New();
    PyObject *item = PyDict_GetItemString(shared_cache, "k{n}");
    return first(args) ? item : NULL;
}}
"""


@pytest.fixture
def project(tmp_path) -> Path:
    """Three copies of the real extension (one prelude: a shared PCH) and two files sharing a header."""
    root = tmp_path / "proj"
    root.mkdir()
    for name in ("lru_a.c", "lru_b.c", "lru_c.c"):
        shutil.copy(LEGACY, root / name)
    (root / "shared.h").write_text(SHARED_H)
    for n in (1, 2):
        (root / f"user{n}.c").write_text(USER_C.format(n=n))
    return root


def dicts(result) -> list[dict]:
    return [f.to_dict() for f in result.findings]


def test_findings_identical_across_cache_and_workers(project, tmp_path):
    cache = str(tmp_path / "cache")

    def run(**kw):
        return scan(ScanOptions(paths=[str(project)], **kw))

    one = run(jobs=1)
    assert len({f.code for f in one.findings}) >= 3, [f.code for f in one.findings]
    assert {Path(f.path).name for f in one.findings} >= {"lru_a.c", "user1.c"}
    reference = dicts(one)
    assert dicts(run(jobs=2)) == reference
    assert dicts(run(jobs=2, cache=True, cache_dir=cache)) == reference  # cold
    assert dicts(run(jobs=2, cache=True, cache_dir=cache)) == reference  # warm
    assert dicts(run(jobs=1, cache=True, cache_dir=cache)) == reference  # warm, one worker
    assert sorted(map(repr, run(jobs=2).diagnostics)) == sorted(map(repr, one.diagnostics))


def test_precompiled_prelude_gives_the_same_result_as_a_plain_parse(project, tmp_path):
    found = discover([str(project)])
    fs = build_flags(ScanOptions(paths=[str(project)]), found.sources, found.headers)
    plain = [fs.spec_for(p) for p in found.sources]
    roots = [str(project)]
    pch = with_pch(plain, [], project_filter(roots), str(tmp_path / "pch"), jobs=2)
    assert all(s.pch for s in pch), "every file here starts with the same Python.h prelude"
    codes = [r.code for r in select_rules([], [])]
    for a, b in zip(plain, pch):
        ra, rb = analyse(a, codes, roots, []), analyse(b, codes, roots, [])
        assert ra.findings and [f.to_dict() for f in rb.findings] == [f.to_dict() for f in ra.findings]
        assert dataclasses.replace(rb, path=ra.path) == ra


def test_a_file_defining_macros_before_python_h_gets_its_own_prelude(tmp_path):
    """Py_LIMITED_API changes what Python.h declares: files with and without it must not share a PCH."""
    root = tmp_path / "p"
    root.mkdir()
    body = "#include <Python.h>\nstatic PyObject *f(PyObject *l) { return PyList_GetItem(l, 0); }\n"
    (root / "a.c").write_text(body)
    (root / "b.c").write_text(body)
    (root / "limited.c").write_text("#define Py_LIMITED_API 0x030a0000\n" + body)
    (root / "late.c").write_text("#include <stdio.h>\n#ifdef X\n#endif\n" + body)
    found = discover([str(root)])
    fs = build_flags(ScanOptions(paths=[str(root)]), found.sources, found.headers)
    specs = with_pch([fs.spec_for(p) for p in found.sources], [], project_filter([str(root)]),
                     str(tmp_path / "pch"))
    by_name = {Path(s.path).name: s for s in specs}
    assert by_name["a.c"].pch and by_name["a.c"].pch == by_name["b.c"].pch
    assert by_name["limited.c"].pch is None  # alone with its prelude: not worth a PCH
    assert by_name["late.c"].pch is None  # an #ifdef before Python.h: parsed plainly


def test_a_longer_prelude_shares_the_python_h_part(tmp_path):
    """A file that includes one more header after Python.h than the others is parsed on their
    PCH (its own copy of the prelude re-reads the rest) and gets the result of a plain parse."""
    root = tmp_path / "p"
    root.mkdir()
    body = "static PyObject *f(PyObject *l) { return PyList_GetItem(l, 0); }\n"
    (root / "a.c").write_text("#include <Python.h>\n" + body)
    (root / "b.c").write_text("#include <Python.h>\n" + body.replace("f(", "g("))
    (root / "more.c").write_text("#include <Python.h>\n#include <structmember.h>\n" + body)
    (root / "limited.c").write_text("#define Py_LIMITED_API 0x030a0000\n#include <Python.h>\n"
                                    "#include <structmember.h>\n" + body)
    found = discover([str(root)])
    fs = build_flags(ScanOptions(paths=[str(root)]), found.sources, found.headers)
    plain = [fs.spec_for(p) for p in found.sources]
    specs = with_pch(plain, [], project_filter([str(root)]), str(tmp_path / "pch"))
    by_name = {Path(s.path).name: s for s in specs}
    assert by_name["more.c"].pch and by_name["more.c"].pch == by_name["a.c"].pch
    assert by_name["limited.c"].pch is None  # its prelude starts with its own define
    codes = [r.code for r in select_rules([], [])]
    for a, b in zip(plain, specs):
        ra, rb = analyse(a, codes, [str(root)], []), analyse(b, codes, [str(root)], [])
        assert ra.findings and dataclasses.replace(rb, path=ra.path) == ra


def test_fast_null_check_agrees_with_libclang(tmp_path):
    from clang.cindex import conf

    from extmigrate.parse import parse
    from extmigrate.tree import TUView

    src = tmp_path / "m.c"
    shutil.copy(LEGACY, src)
    fs = build_flags(ScanOptions(paths=[str(tmp_path)]), [str(src)], [])
    tu = parse(fs.spec_for(str(src)))
    view = TUView(tu, str(src), project_filter([str(tmp_path)]))
    null = conf.lib.clang_getNullCursor()
    cursors = [null] + [n.cursor for n in view.nodes]
    cursors += [conf.lib.clang_getCursorReferenced(n.cursor) for n in view.nodes]  # many null ones
    cursors += [conf.lib.clang_getCursorSemanticParent(n.cursor) for n in view.nodes]
    seen = {True: 0, False: 0}
    for c in cursors:
        expected = bool(conf.lib.clang_equalCursors(c, null))
        assert c.is_null() is expected
        seen[expected] += 1
    assert seen[True] > 0 and seen[False] > 100


def test_a_generated_data_table_is_indexed_up_to_the_cap(tmp_path):
    from extmigrate.parse import parse
    from extmigrate.tree import INIT_LIST_CAP, K, TUView

    n = INIT_LIST_CAP + 1000
    src = tmp_path / "table.c"
    src.write_text("static const unsigned char table[] = {" + ",".join(str(i % 256) for i in range(n))
                   + "};\nstatic int counter;\nint bump(void) { return ++counter + table[3]; }\n")
    fs = build_flags(ScanOptions(paths=[str(tmp_path)]), [str(src)], [])
    view = TUView(parse(fs.spec_for(str(src))), str(src), project_filter([str(tmp_path)]))
    [init] = list(view.of_kind(K.INIT_LIST_EXPR))
    assert len(view.children_of(init)) == INIT_LIST_CAP and view.elided == n - INIT_LIST_CAP
    assert [f.spelling for f in view.functions] == ["bump"]  # what follows the table is indexed
    assert {v.spelling for v in view.of_kind(K.VAR_DECL)} == {"table", "counter"}


def test_conditional_preludes_are_precompiled_only_when_replaying_them_is_safe(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    body = ('#include <Python.h>\nstatic PyObject *cache;\n'
            'static PyObject *f(PyObject *l) { if (!cache) cache = PyList_GetItem(l, 0); return cache; }\n')
    safe = "#if defined(_WIN32) && !defined(WIN32)\n#  define WIN32 1\n#endif\n"
    # Python.h defines PY_VERSION_HEX: read again after the prelude, this #ifdef would flip
    flips = "#ifdef PY_VERSION_HEX\n#  define SEEN_PYTHON 1\n#endif\n"
    for name, head in (("s1.c", safe), ("s2.c", safe), ("f1.c", flips), ("f2.c", flips)):
        (root / name).write_text(head + body)
    found = discover([str(root)])
    fs = build_flags(ScanOptions(paths=[str(root)]), found.sources, found.headers)
    plain = [fs.spec_for(p) for p in found.sources]
    roots = [str(root)]
    specs = with_pch(plain, [], project_filter(roots), str(tmp_path / "pch"))
    by_name = {Path(s.path).name: s for s in specs}
    assert by_name["s1.c"].pch and by_name["s1.c"].pch == by_name["s2.c"].pch
    assert by_name["f1.c"].pch is None and by_name["f2.c"].pch is None
    codes = [r.code for r in select_rules([], [])]
    for a, b in zip(plain, specs):
        assert analyse(b, codes, roots, []) == analyse(a, codes, roots, [])
