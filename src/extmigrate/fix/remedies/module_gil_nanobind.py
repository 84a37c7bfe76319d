"""FT204: nanobind_add_module(<target> ...) in the CMake build file gets FREE_THREADED."""

from __future__ import annotations

import re

from extmigrate.fix.base import Edit, FixContext, FixProposal, NoFix, remedy
from extmigrate.model import Finding
from extmigrate.tree import TUView


@remedy("FT204")
def free_threaded_build(tu: TUView, f: Finding, ctx: FixContext) -> FixProposal | NoFix:
    d = f.data
    if "build_file" not in d:
        return NoFix("no nanobind_add_module() call found for this module: add FREE_THREADED by hand")
    path, (start, close) = d["build_file"], d["build_call"]
    text = ctx.source(path)[start:close + 1].decode("utf-8", "replace")
    m = re.match(rf"\w+\s*\(\s*{re.escape(d['target'])}\b", text)
    if m is None:
        return NoFix("the build file changed since the scan; scan again")
    at = start + len(text[:m.end()].encode("utf-8"))
    return FixProposal("safe", f"build nanobind module '{d['target']}' FREE_THREADED",
                       [Edit(path, at, at, ctx.render("module_gil_nanobind").strip("\n"))],
                       declaration=True)
