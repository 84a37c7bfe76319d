"""FT204 module-gil-nanobind: NB_MODULE against the project's build files (read as text).

nanobind's headers are not installed here: the parses have errors (allowed), found from the text."""

from __future__ import annotations

import os

NB_SRC = '#include <nanobind/nanobind.h>\nNB_MODULE(fast, m) { m.def("f", []() { return 1; }); }\n'


def test_cmake_without_free_threaded(scan_c):
    res = scan_c({
        "pyproject.toml": "[project]\nname = 'fast'\n",
        "CMakeLists.txt": ("find_package(nanobind CONFIG REQUIRED)\n"
                           "# nanobind_add_module(fast FREE_THREADED src/fast.cpp)\n"
                           "nanobind_add_module(fast NB_STATIC src/fast.cpp)\n"),
        "src/fast.cpp": NB_SRC,
    }, select=["FT204"], parse_errors_ok=True)
    [f] = res.findings
    assert (f.symbol, os.path.basename(f.path), f.line, f.column) == ("fast", "fast.cpp", 2, 1)
    assert [(os.path.basename(s.path), s.line) for s in f.related] == [("CMakeLists.txt", 3)]
    cmake = open(f.data["build_file"]).read()
    start, close = f.data["build_call"]
    assert cmake[start:close + 1] == "nanobind_add_module(fast NB_STATIC src/fast.cpp)"


def test_free_threaded_build_is_clean(scan_c):
    res = scan_c({
        "pyproject.toml": "[project]\nname = 'fast'\n",
        "CMakeLists.txt": ("nanobind_add_module(other src/other.cpp)\n"
                           "nanobind_add_module(\n  fast\n  FREE_THREADED\n  src/fast.cpp\n)\n"),
        "src/fast.cpp": NB_SRC,
    }, select=["FT204"], parse_errors_ok=True)
    assert res.findings == []


def test_no_build_file_at_all(scan_c):
    res = scan_c({"pyproject.toml": "", "fast.cpp": NB_SRC}, select=["FT204"], parse_errors_ok=True)
    [f] = res.findings
    assert "no build file calls nanobind_add_module" in f.message and f.related == []


def test_define_by_hand_counts(scan_c):
    res = scan_c({
        "pyproject.toml": "",
        "meson.build": "ext = py.extension_module('fast', 'fast.cpp', cpp_args: ['-DNB_FREE_THREADED'])\n",
        "fast.cpp": NB_SRC,
    }, select=["FT204"], parse_errors_ok=True)
    assert res.findings == []


def test_build_file_edit_is_seen_on_the_next_scan(scan_c, tmp_path):
    files = {
        "pyproject.toml": "",
        "CMakeLists.txt": "nanobind_add_module(fast src/fast.cpp)\n",
        "src/fast.cpp": NB_SRC,
    }
    assert [f.symbol for f in scan_c(files, select=["FT204"], parse_errors_ok=True).findings] == ["fast"]
    (tmp_path / "CMakeLists.txt").write_text("nanobind_add_module(fast FREE_THREADED src/fast.cpp)\n")
    assert scan_c({}, select=["FT204"], parse_errors_ok=True).findings == []
