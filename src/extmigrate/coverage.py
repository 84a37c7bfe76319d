"""Configuration coverage: C-API code in #if branches the scan's flags leave off.

A TU's inactive branches (clang's skipped ranges) that use the Python C API are found after the main
parse.  The TU is parsed again with the macros they test turned on (all optional-feature macros such
as HAVE_LIBTIFF or CAIRO_HAS_PDF_SURFACE together, then each platform: _WIN32, __APPLE__, the BSDs),
at most `max_configs` times, the configurations that enable most C-API lines first.  Findings of
such a parse count only inside the branches the main parse skipped, carry their configuration
(`config`), and are never reported twice.  C-API lines no configuration compiled are returned for
the summary: never silent.

Only branches of the TU's own file and of the .c files it includes choose extra parses (a header's
branches would otherwise cost one parse per TU that includes it); a header's branch is analysed when
one of those parses compiles it, and counted as not analysed otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from ctypes import POINTER, Structure, c_uint, c_void_p
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from clang.cindex import SourceRange, conf

from extmigrate.analysis.ppbranch import file_dead_ranges, in_dead_branch
from extmigrate.analysis.text import blanked
from extmigrate.brokenparse import broken_functions, mark_low_confidence
from extmigrate.fix.base import propose_fixes
from extmigrate.model import Finding
from extmigrate.parse import NOT_MACROS, parse
from extmigrate.rules import get_rule
from extmigrate.tree import TUView
from extmigrate.unity import FRAGMENT_EXTS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_DIRECTIVE = re.compile(r"[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b(.*)")
_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*")  # not the x of 0x030D0000
_NEGATED = re.compile(r"!\s*(?:defined\s*\(?\s*)?([A-Za-z_]\w*)")


@lru_cache(maxsize=1)
def settings() -> dict:
    return tomllib.loads(resources.files("extmigrate.data").joinpath("coverage.toml").read_text("utf-8"))


@lru_cache(maxsize=1)
def _capi() -> re.Pattern:
    return re.compile(settings()["capi"]["pattern"])


def _platform_group(name: str) -> str | None:
    for group, names in settings()["platforms"].items():
        if name in names:
            return group
    return None


def _feature(name: str) -> bool:
    return name.startswith(tuple(settings()["feature_prefixes"])) or \
        any(part in name for part in settings().get("feature_infixes", ()))


@dataclass
class Branch:
    """One inactive branch: its body's lines, the macros its condition needs, its C-API lines."""

    path: str
    line: int  # first line of the body (after the directive)
    end_line: int  # last line of the body
    macros: list[str]  # names whose definition would take the branch (empty: #else, #ifndef, ...)
    capi: set[int] = field(default_factory=set)


# -- clang's skipped ranges ---------------------------------------------------------------------
class _RangeList(Structure):
    _fields_ = [("count", c_uint), ("ranges", POINTER(SourceRange))]


@lru_cache(maxsize=1)
def _skipped_fn():
    lib = conf.lib
    fn = lib.clang_getSkippedRanges
    fn.argtypes, fn.restype = [c_void_p, c_void_p], POINTER(_RangeList)
    lib.clang_disposeSourceRangeList.argtypes = [POINTER(_RangeList)]
    return fn


def skipped_lines(tu, path: str) -> list[tuple[int, int]]:
    """(first line, last line) of each range of `path` the preprocessor skipped in this parse."""
    f = tu.get_file(path)
    lst = _skipped_fn()(tu.obj, f.obj if hasattr(f, "obj") else f)
    try:
        n = lst.contents.count
        return [(lst.contents.ranges[i].start.line, lst.contents.ranges[i].end.line) for i in range(n)]
    finally:
        conf.lib.clang_disposeSourceRangeList(lst)


def branches(tu, view: TUView) -> list[Branch]:
    """The inactive branches of the TU's project files that use the C API (outside branches a
    free-threaded build never compiles)."""
    out: list[Branch] = []
    for path in sorted(view.files):
        try:
            ranges = skipped_lines(tu, path)
        except Exception:  # a file clang cannot name again: nothing to split
            continue
        if not ranges:
            continue
        text = blanked(view, path)
        starts = _line_starts(text)
        dead = file_dead_ranges(view, path)
        lines = text.split("\n")
        pat = _capi()
        for first, last in ranges:
            for b in _split(path, lines, first, last):
                b.capi = {n for n in range(b.line, b.end_line + 1)
                          if n <= len(lines) and pat.search(lines[n - 1])
                          and not _DIRECTIVE.match(lines[n - 1])
                          and not in_dead_branch(dead, starts[n - 1])}
                if b.capi:
                    out.append(b)
    return out


def _line_starts(text: str) -> list[int]:
    starts, pos = [0], text.find("\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


def _split(path: str, lines: list[str], first: int, last: int) -> list[Branch]:
    """A skipped range (from its opening directive to the one that ends it) as one Branch per
    #if/#elif/#else arm at its top level."""
    out: list[Branch] = []
    depth, cur = 0, None
    for n in range(first, min(last, len(lines)) + 1):
        m = _DIRECTIVE.match(lines[n - 1])
        if not m:
            continue
        kind, cond = m.group(1), m.group(2)
        if n == first or (depth == 0 and kind in ("elif", "else", "endif")):
            if cur is not None:
                cur.end_line = n - 1
                if cur.end_line >= cur.line:
                    out.append(cur)
            cur = Branch(path, n + 1, n, _needs(kind, cond)) if kind != "endif" and n < last else None
            continue
        if kind in ("if", "ifdef", "ifndef"):
            depth += 1
        elif kind == "endif":
            depth -= 1
    return out


def _needs(kind: str, cond: str) -> list[str]:
    """Macros to define so that this arm is taken (none when a definition cannot take it)."""
    if kind == "ifdef":
        return cond.split()[:1]
    if kind not in ("if", "elif"):
        return []
    negated = set(_NEGATED.findall(cond))
    return sorted(set(_NAME.findall(cond)) - negated - NOT_MACROS)


# -- extra configurations -----------------------------------------------------------------------
def configs(found: list[Branch], main_path: str, defined: set[str] = frozenset()) -> list[list[str]]:
    """-D flag sets for extra parses, the ones that enable most C-API lines first, bounded.
    `defined`: macros the scan's own flags define (a branch needs only the others)."""
    main = os.path.realpath(main_path)
    mine = [b for b in found if os.path.realpath(b.path) == main or b.path.lower().endswith(FRAGMENT_EXTS)]
    weight: dict[tuple[str, ...], int] = {}
    features: set[str] = set()
    for b in mine:
        needed = [n for n in b.macros if n not in defined]
        feats = [n for n in needed if _feature(n)]
        groups = {_platform_group(n) for n in needed} - {None}
        if feats and not groups:
            features.update(feats)
            weight[("features",)] = weight.get(("features",), 0) + len(b.capi)
        elif len(groups) == 1 and not feats:
            names = tuple(n for n in needed if _platform_group(n))
            weight[names] = weight.get(names, 0) + len(b.capi)
    merged: dict[tuple[str, ...], int] = {}
    for key, w in weight.items():
        names = tuple(sorted(features)) if key == ("features",) else key
        merged[names] = merged.get(names, 0) + w
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    return [[f"-D{n}" for n in names] for names, _ in ranked[:settings()["limits"]["max_configs"]]]


@dataclass
class Extra:
    """What the extra parses of one TU add: findings, each rule's facts per parse (for the rules'
    project-wide step), and the regions each configuration compiled: [path, first, last, flags]."""

    findings: list[Finding] = field(default_factory=list)
    facts: list[dict] = field(default_factory=list)
    regions: list[list] = field(default_factory=list)
    broken: list[list] = field(default_factory=list)  # bodies with errors, in those regions only


def analyse_configs(spec, extra_args: list[str], rule_codes: list[str], in_project,
                    found: list[Branch], seen: set[tuple]) -> Extra:
    """Parse the TU once per extra configuration; findings inside the inactive branches, tagged with
    their configuration.  Removes the lines each parse compiled from the branches' `capi` sets."""
    out = Extra()
    args = list(spec.args) + list(extra_args or [])
    defined = {re.split(r"[=(]", a[2:], maxsplit=1)[0] for a in args if a.startswith("-D")}
    for flags in configs(found, spec.path, defined):
        try:
            config_args = list(extra_args or []) + flags + _companions(flags)
            tu = parse(dataclasses.replace(spec, pch=None), config_args)
        except Exception:  # the branches stay counted as not analysed
            continue
        view = TUView(tu, spec.path, in_project)
        try:
            compiled = _compiled(tu, found)
            mine: list[Finding] = []
            facts: dict = {}
            for code in rule_codes:
                rule = get_rule(code)()
                for f in rule.check(view):
                    key = (f.code, f.path, f.line, f.column, f.symbol)
                    if key in seen or (f.path, f.line) not in compiled:
                        continue
                    seen.add(key)
                    f.config = list(flags)
                    mine.append(f)
                got = rule.collect(view)
                if got is not None:
                    facts[code] = got
            propose_fixes(view, mine)  # byte edits of the file: the same in every configuration
            broken = [b for b in broken_functions(tu, view) if (b[0], b[1]) in compiled]
            mark_low_confidence(mine, broken)
            out.broken += broken
            out.findings += mine
            out.facts.append(facts)
            out.regions += _regions(compiled, flags)
            for b in found:
                b.capi -= {line for path, line in compiled if path == b.path}
        finally:
            view.close()
    return out


def _companions(flags: list[str]) -> list[str]:
    """Flags a platform's macros need to parse at all (_WIN32: Python.h's __declspec)."""
    extra = settings().get("companion_flags", {})
    return [c for f in flags for c in extra.get(f[2:], [])]


def _regions(compiled: set[tuple[str, int]], flags: list[str]) -> list[list]:
    out: list[list] = []
    for path, line in sorted(compiled):
        if out and out[-1][0] == path and out[-1][2] == line - 1:
            out[-1][2] = line
        else:
            out.append([path, line, line, list(flags)])
    return out


def tag(findings: list[Finding], regions: list[list]) -> None:
    """Give findings of the rules' project-wide step that lie in code only an extra configuration
    compiled that configuration."""
    for f in findings:
        if not f.config:
            for path, first, last, flags in regions:
                if path == f.path and first <= f.line <= last:
                    f.config = list(flags)
                    break


def _compiled(tu, found: list[Branch]) -> set[tuple[str, int]]:
    """(path, line) of the branches' lines this parse compiled."""
    out: set[tuple[str, int]] = set()
    skipped: dict[str, list[tuple[int, int]]] = {}
    for b in found:
        if b.path not in skipped:
            try:
                skipped[b.path] = skipped_lines(tu, b.path)
            except Exception:
                skipped[b.path] = [(1, 1 << 30)]
        for line in range(b.line, b.end_line + 1):
            if not any(s <= line <= e for s, e in skipped[b.path]):
                out.add((b.path, line))
    return out


def left_out(found: list[Branch]) -> list[dict]:
    """Each branch with the C-API lines no configuration compiled (0: all analysed), as plain data
    (TUResult.unanalysed; another TU may have compiled what this one left out)."""
    return [{"path": b.path, "line": b.line, "end_line": b.end_line, "lines": len(b.capi),
             "macros": b.macros} for b in found]


def unanalysed(results) -> list[dict]:
    """Across TUs: a branch counts once, with the fewest lines any TU left out."""
    best: dict[tuple[str, int], dict] = {}
    for r in results:
        for u in getattr(r, "unanalysed", ()):
            key = (u["path"], u["line"])
            if key not in best or u["lines"] < best[key]["lines"]:
                best[key] = u
    return [best[k] for k in sorted(best) if best[k]["lines"]]
