"""FT511 capi-without-thread-state: a C API call between Py_BEGIN_ALLOW_THREADS and Py_END_ALLOW_THREADS."""

from __future__ import annotations

import re

from extmigrate.analysis.text import block_end, brace_depth
from extmigrate.analysis.text import blanked
from extmigrate.analysis.typeslots import data
from extmigrate.model import Finding, Site
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.tree import Node, TUView, Use

_PY_NAME = re.compile(r"^_?Py[A-Za-z_]")


def _events(tu: TUView, fn: Node, text: str, base: int) -> list[tuple[int, int, str, bool]]:
    """(start, end, name, detaches) in function-relative offsets: the known macros found in the text,
    and any other macro (a project's own RELEASE_GIL) whose expansion calls PyEval_SaveThread or
    PyEval_RestoreThread."""
    cfg = data("thread_state")
    detach = set(cfg["detach"])
    names = sorted(detach | set(cfg["attach"]), key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(names) + r")\b(\s*\((?:[^()]|\([^()]*\))*\))?")
    out = {m.start(): (m.start(), m.end(), m.group(1), m.group(1) in detach)
           for m in pattern.finditer(text)}
    for start, uses in _uses_by_function(tu).get(id(fn), {}).items():
        calls = {u.name for u in uses if not u.macro}
        switches = calls & {"PyEval_SaveThread", "PyEval_RestoreThread"}
        if start - base in out or len(switches) != 1:
            continue  # none, or both: a macro that detaches and re-attaches (a lock wait) is balanced
        written = uses[0]
        out[start - base] = (start - base, written.end - base, written.name,
                             "PyEval_SaveThread" in calls)
    return [out[k] for k in sorted(out)]


def detached(tu: TUView, fn: Node) -> list[tuple[int, int, int]]:
    """(start, end, detach offset) file-offset stretches of fn that run with the thread state detached.

    A re-attach nested deeper than the detach (Py_BLOCK_THREADS in an error branch that returns)
    lasts to the end of its block; after it the thread state is detached again."""
    path, base, end = fn.extent()[:3]
    raw = tu.source(path)[base:end]
    calls = {u.name for uses in _uses_by_function(tu).get(id(fn), {}).values() for u in uses}
    if b"THREADS" not in raw and "PyEval_SaveThread" not in calls:
        return []
    text = blanked(tu, path)[base:end]
    events = _events(tu, fn, text, base)
    out = []
    since: int | None = None  # where the current detached stretch began
    origin = 0
    resume: int | None = None  # after a nested re-attach: detached again from here
    for start, stop, name, detaches in events:
        if resume is not None and start > resume:
            since, resume = resume, None
        if detaches:
            if since is None:
                since, origin = stop, start
            resume = None
        elif since is not None:
            out.append((base + since, base + start, base + origin))
            since = None
            if brace_depth(text, start) > brace_depth(text, origin):
                close = block_end(text, stop)
                resume = close if close < len(text) else None
    if resume is not None:
        since = resume
    if since is not None:
        out.append((base + since, base + len(text), base + origin))
    return out


def _uses_by_function(tu: TUView) -> dict[int, dict[int, list[Use]]]:
    """function id -> start offset -> uses there (macro first)."""
    cache = tu.__dict__.get("_uses_by_function")
    if cache is None:
        cache = {}
        for uses in tu.uses.values():
            for u in uses:
                if u.func is not None:
                    cache.setdefault(id(u.func), {}).setdefault(u.start, []).append(u)
        for at in cache.values():
            for lst in at.values():
                lst.sort(key=lambda u: (not u.macro, -(u.end - u.start)))
        tu.__dict__["_uses_by_function"] = cache
    return cache


def _safe(name: str) -> bool:
    cfg = data("thread_state")
    return (not _PY_NAME.match(name) or name in cfg["safe"] or name in cfg["safe_numpy"]
            or name.startswith(tuple(cfg["safe_prefixes"])))


def _needs_thread_state(tu: TUView, uses: list[Use]) -> str | None:
    """The API written at this position that needs a thread state (the name as written)."""
    written = uses[0]
    if written.macro and _PY_NAME.match(written.name) and _safe(written.name):
        return None
    calls = [u for u in uses if not _safe(u.name)]
    if not calls:
        return None
    if written.macro and not _safe(written.name):
        text = tu.text(written.path, written.start, written.end)
        function_like = text[len(written.name):].lstrip().startswith("(")
        if function_like or any(not u.macro for u in calls):
            return written.name
        return None
    hit = next((u for u in calls if not u.macro), None)
    if hit is None:
        return None
    return hit.name if written.name == hit.name else f"{written.name} (uses {hit.name})"


@register
class CapiWithoutThreadState(Rule):
    code = "FT511"
    name = "capi-without-thread-state"
    category = "other"
    severity = "error"
    summary = "Python C API called while the thread state is detached (inside Py_BEGIN_ALLOW_THREADS)"
    explanation = ("Between Py_BEGIN_ALLOW_THREADS and Py_END_ALLOW_THREADS the thread has no attached "
                   "thread state: other threads run Python code, the garbage collector and the "
                   "allocator at the same time. C API calls there (reference counting, allocation, "
                   "exceptions, object access) corrupt interpreter state on every build, GIL or not.")
    action = ("Move the call out of the detached stretch (copy what you need into C variables before "
              "Py_BEGIN_ALLOW_THREADS, raise the error after Py_END_ALLOW_THREADS), or re-attach "
              "with Py_BLOCK_THREADS ... Py_UNBLOCK_THREADS around it.")
    doc = """
    Finds the stretches of each function between `Py_BEGIN_ALLOW_THREADS` / `Py_UNBLOCK_THREADS` /
    `PyEval_SaveThread()` (and NumPy's `NPY_BEGIN_THREADS`) and the matching `Py_END_ALLOW_THREADS`
    / `Py_BLOCK_THREADS` / `PyEval_RestoreThread()`, and a project's own macros that expand to one of
    them (a macro that does both, such as a lock wait with the thread state detached, is balanced).
    A `Py_BLOCK_THREADS` in an error branch re-attaches until the end of that block. Every `Py*` / `_Py*` function or function-like macro used there is
    reported, except what the documentation allows without a thread state (`PyMem_Raw*`,
    `PyGILState_*`, `PyThread_*`, `PyMutex_*`, `PyErr_SetInterrupt`, ...) and pure accessors of
    immutable objects the caller holds (`PyBytes_AS_STRING`, `PyTuple_GET_SIZE`, ...).
    `PyErr_CheckSignals` runs Python signal handlers and is reported.

    Before:

        Py_BEGIN_ALLOW_THREADS
        n = read(fd, buf, size);
        if (n < 0)
            PyErr_SetFromErrno(PyExc_OSError);
        Py_END_ALLOW_THREADS

    After:

        Py_BEGIN_ALLOW_THREADS
        n = read(fd, buf, size);
        Py_END_ALLOW_THREADS
        if (n < 0)
            return PyErr_SetFromErrno(PyExc_OSError);
    """

    def check(self, tu: TUView) -> list[Finding]:
        out = []
        by_func = None
        for fn in tu.functions:
            stretches = detached(tu, fn)
            if not stretches:
                continue
            if by_func is None:
                by_func = _uses_by_function(tu)
            for start, uses in sorted(by_func.get(id(fn), {}).items()):
                stretch = next((s for s in stretches if s[0] <= start < s[1]), None)
                if stretch is None:
                    continue
                api = _needs_thread_state(tu, uses)
                if api is None:
                    continue
                src = tu.source(fn.path)
                line = src.count(b"\n", 0, stretch[2]) + 1
                col = stretch[2] - (src.rfind(b"\n", 0, stretch[2]) + 1) + 1
                out.append(self.finding(
                    uses[0], api,
                    f"{api} is called while the thread state is detached (released at line {line}): "
                    "the C API needs an attached thread state",
                    related=[Site(fn.path, line, col, "thread state detached here")]))
        return out
