"""Broken parses: each missing header named once, and findings in bodies that did not parse.

A missing header leaves its types and macros unknown; clang goes on, but the functions that use them
have a broken AST, and a finding there is a guess.  Such findings are marked low-confidence (shown
apart, not counted); the missing headers are listed once per scan with the `-I` folder that holds a
copy of them in the scanned tree, when one does.
"""

from __future__ import annotations

import bisect
import os
import re
from collections import defaultdict

from extmigrate.discover import SKIP_DIRS
from extmigrate.model import Diagnostic, Finding

_NOT_FOUND = re.compile(r"^'([^']+)' file not found")


def missing_headers(diagnostics: list[Diagnostic], roots: list[str]) -> list[dict]:
    """[{"header": name, "files": [files whose parse missed it], "include_dir": folder or None}]."""
    users: dict[str, set[str]] = defaultdict(set)
    for d in diagnostics:
        m = _NOT_FOUND.match(d.message)
        if m:
            users[m.group(1)].add(d.path)
    if not users:
        return []
    copies = _tree_files(roots)
    out = []
    for name in sorted(users):
        out.append({"header": name, "files": sorted(users[name]),
                    "include_dir": _include_dir(name, copies)})
    return out


def _tree_files(roots: list[str]) -> dict[str, list[str]]:
    """Every file under the roots (a file root: its folder), by base name."""
    by_name: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for root in roots:
        top = os.path.abspath(root if os.path.isdir(root) else os.path.dirname(root) or ".")
        if top in seen:
            continue
        seen.add(top)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for n in filenames:
                by_name[n].append(os.path.join(dirpath, n))
    return by_name


def _include_dir(name: str, copies: dict[str, list[str]]) -> str | None:
    """The folder that, given as -I, makes `#include "name"` find a copy in the tree."""
    tail = os.sep + os.path.normpath(name)
    for path in sorted(copies.get(os.path.basename(name), ())):
        if path.endswith(tail):
            return path[:-len(tail)] or os.sep
    return None


# A module's GIL declaration is read from its text and slot tables, which a missing header does not
# hide (a pybind11 module whose headers are not installed still says mod_gil_not_used()).
_TEXT_READ = {"module-gil"}
_ERROR = 3  # clang's CXDiagnostic_Error (Fatal is 4)
# An error about a name of Python's own C API (PyMutex, Py_BEGIN_CRITICAL_SECTION) or its object
# structs (no 'ob_refcnt' in 'struct _object' on free-threaded headers) is code written for another
# Python than the headers parsed, not a body made unreadable by a missing header.
# A Python object pointer where the header has an integer (a GIL-layout object header initialised on
# free-threaded headers, FT503) is that too.
_PYTHON_NAME = re.compile(r"'(?:struct )?(?:_?P[yY]\w*|_\w*object)'"
                          r"|with an expression of type '(?:struct )?_?P[yY]\w* \*'")


def broken_functions(tu, view) -> list[list]:
    """[path, first line, last line] of each function definition of the view whose body holds an
    error diagnostic of this parse (other than about a name of Python's C API). Computed once per
    view (the call graph and the engine both ask)."""
    memo = view.__dict__.get("_broken_functions")
    if memo is None:
        memo = view.__dict__["_broken_functions"] = _broken_functions(tu, view)
    return [list(b) for b in memo]


def _broken_functions(tu, view) -> list[list]:
    errors = error_lines(tu, view, forgive_python=True)
    out = []
    for fn in view.functions:
        if spans_error(errors, fn):
            path, _s, _e, line, _c, end_line, _ec = fn.extent()
            out.append([path, line, end_line])
    return sorted(out)


def error_lines(tu, view, forgive_python: bool) -> dict[str, list[int]]:
    """Sorted lines of the parse's error diagnostics by absolute path, once per view; with
    `forgive_python`, without the lines of an error about a name of Python's C API (_PYTHON_NAME)."""
    key = "_error_lines_forgiving" if forgive_python else "_error_lines"
    memo = view.__dict__.get(key)
    if memo is None:
        memo = view.__dict__[key] = _error_lines(tu, forgive_python)
    return memo


def _error_lines(tu, forgive_python: bool) -> dict[str, list[int]]:
    errors: dict[str, list[int]] = defaultdict(list)
    python_lines: set[tuple[str, int]] = set()  # and what such an error causes on its line
    for d in tu.diagnostics:
        if d.severity >= _ERROR and d.location.file is not None:
            where = (os.path.abspath(d.location.file.name), d.location.line)
            if forgive_python and _PYTHON_NAME.search(d.spelling):
                python_lines.add(where)
            else:
                errors[where[0]].append(where[1])
    for path, lines in errors.items():
        lines[:] = sorted(n for n in lines if (path, n) not in python_lines)
    return dict(errors)


def spans_error(errors: dict[str, list[int]], fn) -> bool:
    """Does one of the `errors` (error_lines) fall within the lines of the function `fn`?"""
    path, _s, _e, line, _c, end_line, _ec = fn.extent()
    found = errors.get(os.path.abspath(path), [])
    i = bisect.bisect_left(found, line)
    return i < len(found) and found[i] <= end_line


def mark_low_confidence(findings: list[Finding], broken: list[list]) -> None:
    """Mark the findings that lie in one of the broken function bodies."""
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for path, line, end_line in broken:
        spans[os.path.abspath(path)].append((line, end_line))
    if not spans:
        return
    for f in findings:
        if f.category in _TEXT_READ:
            continue
        for line, end_line in spans.get(os.path.abspath(f.path), ()):
            if line <= f.line <= end_line:
                f.confidence = "low"
                break
