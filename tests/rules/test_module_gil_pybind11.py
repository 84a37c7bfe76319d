"""FT203 module-gil-pybind11 on C++ sources (no pybind11 headers installed: the parse has errors)."""

from __future__ import annotations


def test_module_without_tag_is_reported_at_the_macro(scan_c):
    res = scan_c({"ex.cpp": """
        #include <pybind11/pybind11.h>
        namespace py = pybind11;
        int add(int a, int b) { return a + b; }
        PYBIND11_MODULE(example, m) {
            m.def("add", &add);
        }
    """}, select=["FT203"], parse_errors_ok=True)
    [f] = res.findings
    assert (f.symbol, f.line, f.column, f.end_column) == ("example", 5, 1, 1 + len("PYBIND11_MODULE"))
    assert f.data["namespace"] == "py"
    src = open(f.path).read()
    assert src[f.data["args_close"]] == ")" and src[:f.data["args_close"]].endswith("example, m")
    assert res.files_with_errors  # the headers are missing: found from the text anyway


def test_tags_declared_or_gil_kept_on_purpose(scan_c):
    res = scan_c({
        "a.cpp": "#include <pybind11/pybind11.h>\nPYBIND11_MODULE(a, m, pybind11::mod_gil_not_used()) {}\n",
        "b.cpp": ("#include <pybind11/pybind11.h>\nnamespace py = pybind11;\n"
                  "PYBIND11_MODULE(b, m, py::multiple_interpreters::per_interpreter_gil(),\n"
                  "                py::mod_gil_not_used()) {}\n"),
        "c.cpp": "#include <pybind11/pybind11.h>\nPYBIND11_MODULE(c, m, pybind11::mod_gil_used()) {}\n",
        "d.cpp": ("#include <pybind11/pybind11.h>\n"
                  "// PYBIND11_MODULE(old, m) {}\n"
                  "PYBIND11_MODULE(d, m /* , py::mod_gil_not_used() */) {}\n"),
    }, select=["FT203"], parse_errors_ok=True)
    assert [(f.symbol, f.data["namespace"]) for f in res.findings] == [("d", "pybind11")]
