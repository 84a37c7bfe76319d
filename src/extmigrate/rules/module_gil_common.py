"""Shared helpers of the module-gil rules (FT2xx); defines no rule.

Module declarations are often preprocessor-guarded (`#ifdef Py_GIL_DISABLED`) or come from binding
macros whose headers are not installed, so they are found in the comment-free source text, where
inactive branches and unexpanded macros are still visible.  Text is decoded as latin-1 so that string
offsets are byte offsets, as in libclang.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from extmigrate.analysis.text import blanked, extent, line_col
from extmigrate.tree import TUView, split_args

API = tomllib.loads(resources.files("extmigrate").joinpath("data/module_gil.toml").read_text("utf-8"))
PB = API["pybind11"]
PB_NOT_USED = re.compile(rf"\b{PB['not_used_tag']}\s*\(\s*(?:true\s*)?\)")  # py::mod_gil_not_used()


def word(name: str) -> re.Pattern:
    return re.compile(rf"\b{re.escape(name)}\b")


_BRACE = re.compile(r"[{}]")
_INIT_START = re.compile(r"\s*(?:\[[^\]]*\]\s*)*=\s*\{")


def decl_span(tu: TUView, var) -> tuple[int, int]:
    """(start, end) of a file-scope variable definition with its `= {...}` initializer, from the text:
    clang drops the initializer from the extent when it does not compile against these headers
    (e.g. an unguarded {Py_mod_gil, ...} entry parsed with Python < 3.13 headers)."""
    text = blanked(tu, var.path)
    name_end = var.cursor.location.offset + len(var.spelling)
    m = _INIT_START.match(text, name_end)
    if m is None:
        return var.start, var.end
    depth = 0
    for b in _BRACE.finditer(text, m.end() - 1):
        depth += 1 if b.group() == "{" else -1
        if depth == 0:
            return var.start, b.end()  # like clang's extent: up to the closing brace
    return var.start, var.end


_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)((?:[^\n]*\\\n)*[^\n]*)", re.M)


def gil_macros(tu: TUView, names: tuple[str, ...] = (API["slot"], API["not_used"])) -> set[str]:
    """Project macros whose definition mentions one of the names, e.g.
    `#define FT_SLOT {Py_mod_gil, Py_MOD_GIL_NOT_USED},` used inside a slot array."""
    cache = tu.__dict__.setdefault("_gil_macros", {})
    if names not in cache:
        pattern = re.compile("|".join(rf"\b{n}\b" for n in names))
        texts = [t for t in (blanked(tu, p) for p in tu.files) if any(n in t for n in names)]
        cache[names] = {m.group(1) for t in texts for m in _DEFINE.finditer(t)
                        if pattern.search(m.group(2)) and m.group(1) not in names}
    return cache[names]


@dataclass
class MacroCall:
    """`NAME(args...)` found in blanked source text."""

    path: str
    name: str
    start: int  # offset of the name
    close: int  # offset of the closing parenthesis
    args: list[str]


def _close_paren(text: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(text)):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def macro_calls(tu: TUView, names: list[str]) -> list[MacroCall]:
    """Every `NAME(...)` of the names in the TU's project files (at the start of a line or statement)."""
    pattern = re.compile(r"(?:^|(?<=[;{}\s]))(" + "|".join(map(re.escape, names)) + r")\s*\(", re.M)
    out = []
    for path in sorted(tu.files):
        text = blanked(tu, path)
        if not any(n in text for n in names):
            continue
        for m in pattern.finditer(text):
            if text[:m.start()].rstrip().endswith("define"):
                continue  # the macro's own #define
            close = _close_paren(text, m.end() - 1)
            if close < 0:
                continue
            out.append(MacroCall(path, m.group(1), m.start(1), close,
                                 split_args(text[m.end() - 1:close + 1])))
    return out


# -- nanobind build files --------------------------------------------------------------------------
NB = API["nanobind"]
_NB_CALL = re.compile(rf"\b{NB['cmake_function']}\s*\(([^)]*)\)", re.I)
_CMAKE_COMMENT = re.compile(r"#[^\n]*")
# The define set by hand: -DNB_FREE_THREADED, add_compile_definitions(NB_FREE_THREADED) ...
_NB_DEFINE = re.compile(rf"-D{NB['define']}\b|compile_definitions\s*\([^)]*\b{NB['define']}\b", re.I)
SOURCE_DEFINE = re.compile(rf"^\s*#\s*define\s+{NB['define']}\b", re.M)


@dataclass
class CMakeModule:
    path: str
    offset: int  # of the call
    close: int  # of its closing parenthesis
    line: int
    target: str
    args: list[str]

    @property
    def free_threaded(self) -> bool:
        return NB["cmake_option"] in self.args


def build_dirs(source: str) -> list[str]:
    """The source's folder and its parents up to the project's top (a folder with pyproject.toml...)."""
    out = []
    d = os.path.dirname(os.path.abspath(source))
    while True:
        out.append(d)
        if any(os.path.exists(os.path.join(d, m)) for m in NB["project_markers"]):
            return out
        parent = os.path.dirname(d)
        if parent == d:
            return out
        d = parent


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(2_000_000).decode("latin-1")
    except OSError:
        return None


def nanobind_modules(source: str) -> tuple[list[CMakeModule], list[str]]:
    """nanobind_add_module() calls in the build files above `source`, and the build files that
    define NB_FREE_THREADED by hand.  Build files are read as text, never run."""
    calls, defines = [], []
    for d in build_dirs(source):
        for name in NB["build_files"]:
            path = os.path.join(d, name)
            raw = _read(path)
            if raw is None:
                continue
            text = _CMAKE_COMMENT.sub(lambda m: " " * len(m.group(0)), raw)
            if _NB_DEFINE.search(text):
                defines.append(path)
            for m in _NB_CALL.finditer(text):
                args = m.group(1).split()
                if args:
                    calls.append(CMakeModule(path, m.start(), m.end() - 1, text.count("\n", 0, m.start()) + 1,
                                             args[0], args[1:]))
    return calls, defines


def nanobind_verdict(source: str, module: str) -> tuple[bool, CMakeModule | None, str]:
    """(declared free-threaded?, the deciding build call, why) for NB_MODULE(module, ...) in source."""
    calls, defines = nanobind_modules(source)
    if defines:
        return True, None, f"{NB['define']} is defined in {defines[0]}"
    base = os.path.basename(source)
    mine = [c for c in calls if any(os.path.basename(a) == base for a in c.args)]
    mine = mine or [c for c in calls if c.target == module]
    if mine:
        c = mine[0]
        return c.free_threaded, c, f"{NB['cmake_function']}({c.target} ...) has no {NB['cmake_option']}"
    if calls and all(c.free_threaded for c in calls):
        return True, calls[0], "every nanobind_add_module() call passes FREE_THREADED"
    if calls:
        return False, calls[0], f"no {NB['cmake_function']}() call for '{module}' passes FREE_THREADED"
    return False, None, f"no build file calls {NB['cmake_function']}(... FREE_THREADED)"
