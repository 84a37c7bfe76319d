"""FT203 module-gil-pybind11: PYBIND11_MODULE without py::mod_gil_not_used()."""

from __future__ import annotations

import re

from extmigrate.analysis.text import blanked
from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.rules.module_gil_common import PB, PB_NOT_USED, extent, macro_calls

_KEEPS_GIL = re.compile(rf"\b{PB['used_tag']}\s*\(|\b{PB['not_used_tag']}\s*\(\s*false\s*\)")
_ALIAS = re.compile(r"\bnamespace\s+(\w+)\s*=\s*(?:::)?pybind11\s*;")


@register
class ModuleGilPybind11(Rule):
    code = "FT203"
    name = "module-gil-pybind11"
    category = "module-gil"
    severity = "warning"
    summary = "PYBIND11_MODULE does not pass py::mod_gil_not_used()"
    explanation = ("pybind11 modules keep the GIL on a free-threaded interpreter unless PYBIND11_MODULE "
                   "gets the py::mod_gil_not_used() tag; importing one re-enables the GIL for the process.")
    action = ("Once the bound code is thread-safe, add py::mod_gil_not_used() as the third argument of "
              "PYBIND11_MODULE (pybind11 >= 2.13).")
    doc = """
    Works on the source text, so it needs no pybind11 headers. A module that passes
    `py::mod_gil_used()` keeps the GIL on purpose and is not reported.

    Before:

        PYBIND11_MODULE(example, m) {
            m.def("add", &add);
        }

    After:

        PYBIND11_MODULE(example, m, py::mod_gil_not_used()) {
            m.def("add", &add);
        }
    """

    def check(self, tu) -> list[Finding]:
        out = []
        for call in macro_calls(tu, PB["module_macros"]):
            tags = " ".join(call.args[2:])
            if len(call.args) < 2 or PB_NOT_USED.search(tags) or _KEEPS_GIL.search(tags):
                continue
            text = blanked(tu, call.path)
            alias = _ALIAS.search(text)
            module = call.args[0]
            out.append(self.finding(
                extent(call.path, text, call.start, call.start + len(call.name)), module,
                f"pybind11 module '{module}' does not pass py::mod_gil_not_used(): importing it "
                "re-enables the GIL",
                data={"module": module, "args_close": call.close,
                      "namespace": alias.group(1) if alias else "pybind11"}))
        return out
