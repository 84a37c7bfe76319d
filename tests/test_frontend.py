"""The libclang front end on real files that include Python.h."""

from __future__ import annotations

import os

from clang import cindex

from extmigrate.flags import FlagSource
from extmigrate.parse import diagnostics, parse
from extmigrate.scan import ScanOptions, build_flags

PY_FILE = """
#include <Python.h>
#include <stddef.h>
static PyObject *f(PyObject *self, PyObject *args) {
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    return PyLong_FromSsize_t(n + offsetof(PyObject, ob_type));
}
"""


def test_python_h_parses_with_no_fatal_diagnostics(tmp_path):
    src = tmp_path / "m.c"
    src.write_text(PY_FILE)
    fs = build_flags(ScanOptions(paths=[str(tmp_path)]), [str(src)], [])
    spec = fs.spec_for(str(src))
    tu = parse(spec)
    diags = diagnostics(tu, spec)
    assert [d for d in diags if d.severity in ("error", "fatal")] == []
    # the clang resource headers are bundled: stddef.h resolves inside the installed package
    includes = [i.include.name for i in tu.get_includes()]
    assert any(p.endswith("stddef.h") and "clang" in p for p in includes)
    calls = {c.spelling for c in tu.cursor.walk_preorder()
             if c.kind == cindex.CursorKind.CALL_EXPR and c.location.file
             and c.location.file.name == str(src)}
    assert "PyLong_FromSsize_t" in calls


def test_missing_include_names_searched_dirs(tmp_path):
    src = tmp_path / "m.c"
    src.write_text('#include "nothere.h"\nint x;\n')
    fs = FlagSource(base_args=[f"-I{tmp_path}"])
    spec = fs.spec_for(str(src))
    diags = diagnostics(parse(spec), spec)
    assert diags and diags[0].severity in ("error", "fatal")
    assert "nothere.h" in diags[0].message and str(tmp_path) in diags[0].message
    assert os.path.samefile(diags[0].path, src)


def test_parse_errors_are_counted_per_scanned_file(scan_c):
    res = scan_c({"a.c": '#include "bad.h"\nint a(void) { return 0; }\n',
                  "bad.h": "int broken( {\n",
                  "b.c": "#include <Python.h>\nint b(void) { return 1; }\n"}, parse_errors_ok=True)
    assert [os.path.basename(p) for p in res.files_with_errors] == ["a.c"]
    assert any(os.path.basename(d.path) == "bad.h" for d in res.diagnostics)


CXX = r"""
#include <Python.h>
class Ref {
public:
    explicit Ref(PyObject* o) : o_(o) { Py_XINCREF(o_); }
    Ref(const Ref& other) : o_(other.o_) { Py_XINCREF(o_); }
    ~Ref() { Py_XDECREF(o_); }
    PyObject* relinquish() { PyObject* r = o_; o_ = nullptr; return r; }
private:
    PyObject* o_;
};
struct State { Ref current() const { return Ref(Py_None); } };
enum class Mode { Fast = 1, Safe = Fast + 1 };
static void reset(State* s, Mode m);
template <void (*Destructor)(State*)>
class Creator {
public:
    Creator() : s_((State*)1) {}
    ~Creator() { if (s_ != (State*)1) Destructor(s_); }
    inline State& state() { if (s_ == (State*)1) s_ = new State(); return *s_; }
private:
    State* s_;
};
static void destroy(State* s) { delete s; }
static thread_local Creator<destroy> g_state;
static PyObject* getcurrent(PyObject* module)
{
    auto twice = [](int x) { return 2 * x; };
    return twice(1) ? g_state.state().current().relinquish() : nullptr;
}
"""


def _indexed(cursor) -> int:
    """Cursors the walk keeps under and including `cursor`: all but the parameters and types of a
    prototype and the constants of an enum (no rule reads them; references to them are kept)."""
    if cursor.kind == cindex.CursorKind.ENUM_DECL or (
            cursor.kind in (cindex.CursorKind.FUNCTION_DECL, cindex.CursorKind.CXX_METHOD,
                            cindex.CursorKind.CONSTRUCTOR, cindex.CursorKind.DESTRUCTOR,
                            cindex.CursorKind.FUNCTION_TEMPLATE) and not cursor.is_definition()):
        return 1
    return 1 + sum(_indexed(c) for c in cursor.get_children())


def test_cxx_walk_visits_every_project_cursor_once(tmp_path):
    """The one-pass walk keeps the tree libclang has (temporaries, templates, lambdas, thread_local)."""
    from extmigrate.tree import TUView

    src = tmp_path / "m.cpp"
    src.write_text(CXX)
    spec = build_flags(ScanOptions(paths=[str(tmp_path)]), [str(src)], []).spec_for(str(src))
    tu = parse(spec)
    view = TUView(tu, str(src), lambda p: p == str(src))
    skip = {cindex.CursorKind.MACRO_INSTANTIATION, cindex.CursorKind.MACRO_DEFINITION,
            cindex.CursorKind.INCLUSION_DIRECTIVE}
    expected = sum(_indexed(top) for top in tu.cursor.get_children()
                   if top.location.file and top.location.file.name == str(src) and top.kind not in skip)
    assert len(view.nodes) == expected
    kinds = {n.kind for n in view.nodes}
    assert cindex.CursorKind.ENUM_DECL in kinds and cindex.CursorKind.ENUM_CONSTANT_DECL not in kinds
    reset = [n for n in view.nodes if n.kind == cindex.CursorKind.FUNCTION_DECL and n.spelling == "reset"]
    assert reset and not view.children_of(reset[0])  # a prototype: no parameters indexed
    assert "getcurrent" in {f.spelling for f in view.functions}
    assert view.uses_of("relinquish") and view.uses_of("relinquish")[0].func.spelling == "getcurrent"


def test_cxx_with_python_h_and_the_standard_library_parses_cleanly(tmp_path):
    src = tmp_path / "m.cpp"
    src.write_text("#include <Python.h>\n#include <vector>\n#include <string>\n#include <cmath>\n"
                   "static PyObject *f(PyObject *, PyObject *) {\n"
                   "    std::vector<std::string> v{\"a\"};\n"
                   "    return PyFloat_FromDouble(std::sqrt(2.0) + (double)v.size());\n}\n")
    spec = build_flags(ScanOptions(paths=[str(tmp_path)]), [str(src)], []).spec_for(str(src))
    tu = parse(spec)
    assert [d for d in diagnostics(tu, spec) if d.severity in ("error", "fatal")] == []
