"""FT512 thread-unsafe-libc: a thread-unsafe C library call in code Python can run from any thread."""

from __future__ import annotations

import sys
from functools import lru_cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from extmigrate.analysis import callgraph
from extmigrate.analysis.guards import guard_at, held
from extmigrate.analysis.ppbranch import gil_only
from extmigrate.model import Finding
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.tree import TUView


@lru_cache(maxsize=None)
def libc() -> dict[str, dict[str, str]]:
    """data/libc.toml: function -> {why, instead, severity[, safe_args]} ([not_reported] left out)."""
    table = tomllib.loads(resources.files("extmigrate").joinpath("data/libc.toml").read_text("utf-8"))
    table.pop("not_reported", None)
    return table


@register
class ThreadUnsafeLibc(Rule):
    code = "FT512"
    name = "thread-unsafe-libc"
    category = "other"
    severity = "warning"
    summary = "thread-unsafe C library call (strtok, localtime, getpwnam, setlocale...) reachable from Python"
    explanation = ("These C library functions keep hidden static state (a result buffer, a cursor, a "
                   "generator state, the environment or the locale). With the GIL, Python-callable code "
                   "never ran them concurrently; without it two threads overwrite each other's results.")
    action = "Use the reentrant variant (usually the _r function) or hold a lock around the call and the use of its result."
    doc = """
    Reports calls of the functions listed in `data/libc.toml` (each with the reason and the
    replacement) made from functions that can run after module initialisation: the project-wide
    call graph leaves out functions only reachable from `PyInit_*` or a `Py_mod_exec` slot.
    Calls inside a lock region or critical section are fine, including locks taken through the
    project's own lock macros or helper functions (`setup()` locks, `teardown()` unlocks), as are
    functions the project defines itself under the same name. Entries whose danger depends on the libc (glibc locks `random`, the
    environment only races with writers) are notes. Not reported: `rand`/`srand` (one integer
    state on every supported libc, locked or per-thread on glibc and Windows: a race only repeats
    or skips a value) and `strerror(errno)` (a constant string for every code the libc sets); the
    facts and their sources are in `data/libc.toml`.

    Before:

        struct tm *t = localtime(&now);
        return PyUnicode_FromFormat("%d:%02d", t->tm_hour, t->tm_min);

    After:

        struct tm t;
        if (localtime_r(&now, &t) == NULL)
            return PyErr_SetFromErrno(PyExc_OSError);
        return PyUnicode_FromFormat("%d:%02d", t.tm_hour, t.tm_min);
    """

    def collect(self, tu: TUView) -> dict:
        table = libc()
        hits = []
        for use in tu.uses_of(*table):
            if use.node is None or use.func is None:
                continue
            ref = use.node.cursor.referenced
            ref = ref.get_definition() or ref if ref is not None else None
            decl_file = ref.location.file if ref is not None else None
            if decl_file is not None and tu.is_project_file(decl_file.name):
                continue  # the project's own function of that name
            if (guard_at(tu, use.func, use.start) or held(tu, use.func, use.start)
                    or gil_only(tu, use.path, use.start)):
                continue
            entry = table[use.name]
            if use.args and " ".join(use.args[0].split()) in entry.get("safe_args", ()):
                continue  # e.g. strerror(errno): a constant string on every supported libc
            f = self.finding(
                use, use.name,
                f"{use.name}() {entry['why']}; without the GIL threads calling it at once clash "
                f"(instead: {entry['instead']})",
                action=f"Instead: {entry['instead']}; or hold a lock around the call and the use of its result.",
                data={"function_key": callgraph.node_key(tu, use.func)})
            f.severity = entry["severity"]
            hits.append(f.to_dict())
        return {"calls": callgraph.collect(tu), "hits": hits}

    def finish(self, facts: list, findings: list[Finding]) -> list[Finding]:
        return [Finding.from_dict(d) for d in callgraph.hits_after_init(facts)]
