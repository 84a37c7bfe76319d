"""FT513 limited-api: the Limited API / abi3 is selected, which free-threaded builds before 3.15 reject."""

from __future__ import annotations

import ast
import os
import re

from extmigrate.analysis.text import blank_comments, extent, line_col
from extmigrate.discover import SKIP_DIRS
from extmigrate.model import Finding, Site
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.tree import TUView

_C_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(Py_LIMITED_API)\b", re.M)
_C_COND = re.compile(r"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b([^\n]*)", re.M)
_FT_WORDS = re.compile(r"GIL_DISABLED|free[-_ ]?thread|FREETHREAD|abi3t|SABI_VERSION|SABI_COMPONENT",
                       re.I)
_CFG = re.compile(r"^[ \t]*(py[_-]limited[_-]api)[ \t]*=[ \t]*([^\n#;]*)", re.M | re.I)
_TOML = re.compile(r"^[ \t]*(py-limited-api)[ \t]*=[ \t]*(\w+)|(Py_LIMITED_API)", re.M)
_CMAKE = re.compile(r"\b(USE_SABI)[ \t]+(\S+)|(Py_LIMITED_API)")
_CMAKE_IF = re.compile(r"^[ \t]*(if|elseif|else|endif)[ \t]*\(([^\n]*)", re.M | re.I)
_FALSY = {"", "0", "false", "no", "off", "none", "''", '""'}
_PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
BUILD_FILES = ("setup.py", "setup.cfg", "pyproject.toml", "CMakeLists.txt")


def _c_conditions(text: str, offset: int) -> list[str]:
    """The #if conditions (and their #elif/#else siblings) that enclose offset."""
    stack: list[list[str]] = []
    for m in _C_COND.finditer(text):
        if m.start() > offset:
            break
        kind, cond = m.group(1), m.group(2)
        if kind.startswith("if"):
            stack.append([cond])
        elif kind == "endif":
            if stack:
                stack.pop()
        elif stack:
            stack[-1].append(cond)
    return [c for group in stack for c in group]


def _cmake_guarded(text: str, offset: int) -> bool:
    depth: list[str] = []
    for m in _CMAKE_IF.finditer(text):
        if m.start() > offset:
            break
        kind = m.group(1).lower()
        if kind == "if":
            depth.append(m.group(2))
        elif kind == "endif":
            if depth:
                depth.pop()
        elif depth:
            depth[-1] += " " + m.group(2)
    return any(_FT_WORDS.search(c) for c in depth)


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(2_000_000).decode("utf-8", errors="replace")
    except OSError:
        return None


def build_files(roots: list[str]) -> list[str]:
    """Build files under the roots and in their parent folders up to the project's top."""
    found: list[str] = []
    for root in roots:
        root = os.path.abspath(root)
        d = root if os.path.isdir(root) else os.path.dirname(root)
        while True:  # the folders above a scanned src/ folder, up to the project's top
            found += [os.path.join(d, n) for n in BUILD_FILES if os.path.isfile(os.path.join(d, n))]
            parent = os.path.dirname(d)
            if any(os.path.exists(os.path.join(d, m)) for m in _PROJECT_MARKERS) or parent == d:
                break
            d = parent
        if os.path.isdir(root):
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(n for n in dirnames if n not in SKIP_DIRS
                                     and not n.endswith(".egg-info")
                                     and not os.path.exists(os.path.join(dirpath, n, "pyvenv.cfg")))
                found += [os.path.join(dirpath, n) for n in sorted(filenames) if n in BUILD_FILES]
    return list(dict.fromkeys(os.path.realpath(p) for p in found))


class _SetupPy(ast.NodeVisitor):
    """`py_limited_api=<truthy>` keywords or dict keys and "Py_LIMITED_API" macros in setup.py."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.consts: dict[str, ast.expr] = {}
        self.hits: list[tuple[int, int, str]] = []  # (line, byte column, what)
        self.guards: list[ast.expr] = []

    def source(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or ""

    def truthy(self, value: ast.expr) -> bool:
        if isinstance(value, ast.Name) and value.id in self.consts:
            value = self.consts[value.id]
        if isinstance(value, ast.Constant):
            return bool(value.value) and str(value.value).lower() not in _FALSY
        return False  # an expression: chosen at build time, not knowable from the text

    def guarded(self, value: ast.AST | None = None) -> bool:
        """Is the setting conditional on the free-threaded build (directly or through a variable)?"""
        exprs = self.guards + ([value] if value is not None else [])
        texts = [self.source(e) for e in exprs]
        texts += [self.source(self.consts[n.id]) for e in exprs for n in ast.walk(e)
                  if isinstance(n, ast.Name) and n.id in self.consts]
        return any(_FT_WORDS.search(t) for t in texts)

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            if isinstance(t, ast.Name):
                self.consts[t.id] = node.value
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        self.guards.append(node.test)
        self.generic_visit(node)
        self.guards.pop()

    visit_IfExp = visit_If

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg == "py_limited_api" and self.truthy(node.value) and not self.guarded(node.value):
            self.hits.append((node.lineno, node.col_offset, "py_limited_api"))
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for k, v in zip(node.keys, node.values):
            if (isinstance(k, ast.Constant) and k.value in ("py_limited_api", "py-limited-api")
                    and self.truthy(v) and not self.guarded(v)):
                self.hits.append((k.lineno, k.col_offset + 1, "py_limited_api"))
        self.generic_visit(node)

    def visit_Tuple(self, node: ast.Tuple) -> None:
        """define_macros=[("Py_LIMITED_API", "0x03090000")]"""
        first = node.elts[0] if node.elts else None
        if isinstance(first, ast.Constant) and first.value == "Py_LIMITED_API" and not self.guarded():
            self.hits.append((first.lineno, first.col_offset + 1, "Py_LIMITED_API"))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        """extra_compile_args=["-DPy_LIMITED_API=0x03090000"]"""
        if (isinstance(node.value, str) and re.match(r"^[-/]DPy_LIMITED_API\b", node.value)
                and not self.guarded()):
            self.hits.append((node.lineno, node.col_offset + 3, "Py_LIMITED_API"))


@register
class LimitedApi(Rule):
    code = "FT513"
    name = "limited-api"
    category = "other"
    severity = "warning"
    summary = "Limited API / abi3 selected: free-threaded builds before 3.15 reject it"
    explanation = ("Free-threaded CPython 3.13t and 3.14t have no Limited API: Python.h stops with "
                   "'The limited API is not currently supported in the free-threaded build' and "
                   "setuptools refuses py_limited_api. The stable ABI for free-threaded builds "
                   "(abi3t, PEP 803, accepted) arrives with CPython 3.15.")
    action = ("Select the Limited API only on GIL builds: guard the define with "
              "#ifndef Py_GIL_DISABLED, or set py_limited_api / USE_SABI from "
              "sysconfig.get_config_var('Py_GIL_DISABLED') (scikit-build-core: ${SKBUILD_SABI_VERSION}).")
    doc = """
    Reports `#define Py_LIMITED_API` in C sources and headers, and in build files read as text
    (never run): `py_limited_api=True`/`"cp39"` and `"Py_LIMITED_API"` macros in setup.py,
    `py_limited_api` in setup.cfg, `py-limited-api = true` and `Py_LIMITED_API` in pyproject.toml,
    `USE_SABI <version>` and `Py_LIMITED_API` in CMakeLists.txt. A define or setting already
    conditional on the free-threaded build (`Py_GIL_DISABLED`, `${SKBUILD_SABI_VERSION}`) is not
    reported. scikit-build-core's `wheel.py-api` is not reported: scikit-build-core ignores it on
    free-threaded Pythons (since 0.9.4) and builds a regular wheel.

    Before:

        #define Py_LIMITED_API 0x03090000
        #include <Python.h>

    After:

        #ifndef Py_GIL_DISABLED
        #  define Py_LIMITED_API 0x03090000
        #endif
        #include <Python.h>

    and in setup.py:

        import sysconfig
        limited = not sysconfig.get_config_var("Py_GIL_DISABLED")
        Extension("m", ["m.c"], py_limited_api=limited)
    """

    def check(self, tu: TUView) -> list[Finding]:
        out = []
        for path in sorted(tu.files):
            raw = tu.source(path)
            if b"Py_LIMITED_API" not in raw:
                continue
            text = blank_comments(raw.decode("latin-1"))
            for m in _C_DEFINE.finditer(text):
                if any(_FT_WORDS.search(c) for c in _c_conditions(text, m.start())):
                    continue
                out.append(self.finding(
                    extent(path, text, m.start(1), m.end(1)), "Py_LIMITED_API",
                    "Py_LIMITED_API is defined: a free-threaded build (3.13t/3.14t) stops at "
                    "'#error The limited API is not currently supported in the free-threaded build'"))
        return out

    def check_files(self, roots: list[str]) -> list[Finding]:
        out = []
        for path in build_files(roots):
            text = _read(path)
            if text is None:
                continue
            by_what: dict[str, list[tuple[int, int]]] = {}
            for start, end, what in self._hits(os.path.basename(path), text):
                by_what.setdefault(what, []).append((start, end))
            for what, spots in by_what.items():  # one finding per setting and file
                others = [Site(path, *line_col(text, s), "also here") for s, _ in spots[1:]]
                more = f" ({len(spots)} places)" if len(spots) > 1 else ""
                out.append(self.finding(
                    extent(path, text, *spots[0]), what,
                    f"{what} selects the Limited API (abi3){more}: free-threaded builds before 3.15 "
                    "reject it, so the build fails on 3.13t/3.14t", function=None, related=others))
        return out

    def _hits(self, name: str, text: str) -> list[tuple[int, int, str]]:
        if name == "setup.py":
            return self._setup_py(text)
        if name == "setup.cfg":
            return [(m.start(1), m.end(1), m.group(1)) for m in _CFG.finditer(text)
                    if m.group(2).strip().lower() not in _FALSY]
        plain = re.sub(r"#[^\n]*", lambda m: " " * len(m.group(0)), text)
        if name == "pyproject.toml":
            return [(m.start(g), m.end(g), m.group(g)) for m in _TOML.finditer(plain)
                    for g in [1 if m.group(1) else 3] if m.group(3) or m.group(2).lower() == "true"]
        hits = []
        for m in _CMAKE.finditer(plain):
            if m.group(1) and (m.group(2).startswith("${") or m.group(2).startswith(")")):
                continue  # a variable (SKBUILD_SABI_VERSION is empty on free-threaded builds)
            if _cmake_guarded(plain, m.start()):
                continue
            g = 1 if m.group(1) else 3
            hits.append((m.start(g), m.end(g), m.group(g)))
        return hits

    def _setup_py(self, text: str) -> list[tuple[int, int, str]]:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return []  # not Python 3: nothing we can read reliably
        v = _SetupPy(text)
        v.visit(tree)
        starts = [0]
        for line in v.lines:
            starts.append(starts[-1] + len(line))
        out = []
        for line, col, what in v.hits:
            # ast columns count UTF-8 bytes; convert to a character offset on the line
            line_text = v.lines[line - 1] if line - 1 < len(v.lines) else ""
            col_chars = len(line_text.encode("utf-8")[:col].decode("utf-8", errors="ignore"))
            start = starts[line - 1] + col_chars
            out.append((start, start + len(what), what))
        return out
