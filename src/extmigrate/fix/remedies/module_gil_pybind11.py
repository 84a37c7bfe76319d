"""FT203: PYBIND11_MODULE(name, m) -> PYBIND11_MODULE(name, m, py::mod_gil_not_used()).

The tag exists from pybind11 2.13, the first release that supports free threading at all."""

from __future__ import annotations

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.model import Finding
from extmigrate.tree import TUView


@remedy("FT203")
def declare_pybind11(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    d = f.data
    close = d["args_close"]
    if ctx.source(f.path)[close:close + 1] != b")":
        return NoFix("the file changed since it was scanned; scan again")
    text = ctx.render("module_gil_pybind11", namespace=d["namespace"]).strip("\n")
    return FixProposal("safe", f"declare pybind11 module '{d['module']}' free-threading compatible "
                               "(needs pybind11 >= 2.13)", [Edit(f.path, close, close, text)],
                       declaration=True)
