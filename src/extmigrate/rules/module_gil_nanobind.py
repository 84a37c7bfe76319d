"""FT204 module-gil-nanobind: NB_MODULE built without nanobind_add_module(... FREE_THREADED)."""

from __future__ import annotations

from extmigrate.analysis.text import blanked
from extmigrate.model import Finding, Site
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.rules.module_gil_common import NB, SOURCE_DEFINE, extent, macro_calls, nanobind_verdict


@register
class ModuleGilNanobind(Rule):
    code = "FT204"
    name = "module-gil-nanobind"
    category = "module-gil"
    severity = "warning"
    summary = "nanobind module is not built with FREE_THREADED"
    explanation = ("nanobind declares Py_MOD_GIL_NOT_USED only when the extension is built with "
                   "nanobind_add_module(... FREE_THREADED ...) (which defines NB_FREE_THREADED); without "
                   "it, importing the module re-enables the GIL on a free-threaded interpreter.")
    action = ("Once the bound code is thread-safe, add FREE_THREADED to the module's "
              "nanobind_add_module() call in CMakeLists.txt (ignored on GIL builds).")
    doc = """
    Reads the build files (CMakeLists.txt, meson.build) in the source's folder and its parents up to
    the project's top as text; they are never run. The nanobind_add_module() call that lists the
    source file, or else the one whose target is named like the module, decides.

    Before:

        nanobind_add_module(example src/example.cpp)

    After:

        nanobind_add_module(example FREE_THREADED src/example.cpp)
    """

    # Build files are read in finish(), which runs in every scan: per-file results may come from
    # the result cache, and a changed CMakeLists.txt must still count.
    def collect(self, tu) -> list[dict]:
        return nanobind_sites(tu)

    def finish(self, facts: list, findings: list[Finding]) -> list[Finding]:
        out, seen = [], set()
        for site in (s for sites in facts for s in sites):
            if (site["path"], site["start"]) in seen:
                continue
            seen.add((site["path"], site["start"]))
            module = site["module"]
            ok, build, why = nanobind_verdict(site["path"], module)
            if ok:
                continue
            related = [Site(build.path, build.line, 1, why)] if build else []
            data = {"module": module}
            if build:
                data.update(build_file=build.path, build_call=[build.offset, build.close],
                            target=build.target)
            out.append(self.finding(
                tuple(site["extent"]), module,
                f"nanobind module '{module}' is not built FREE_THREADED ({why}): importing it "
                "re-enables the GIL",
                related=related, data=data))
        return out


def nanobind_sites(tu) -> list[dict]:
    """NB_MODULE(name, m) uses of the TU's project files, unless the file defines NB_FREE_THREADED."""
    out = []
    for call in macro_calls(tu, NB["module_macros"]):
        text = blanked(tu, call.path)
        if call.args and not SOURCE_DEFINE.search(text):
            out.append({"path": call.path, "start": call.start, "module": call.args[0],
                        "extent": list(extent(call.path, text, call.start, call.start + len(call.name)))})
    return out
