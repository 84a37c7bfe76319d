"""Human output in the style of ruff and clang: `path:line:col: CODE message`, a code frame, a summary."""

from __future__ import annotations

import os
import re
from collections import Counter

from extmigrate.scan import ScanResult

_PYTHON_MACRO = re.compile(r"_?P[yY]")  # Py_mod_gil, PY_VERSION_HEX: set by Python's headers
_COLOURS = {"error": "31", "warning": "33", "note": "36", "code": "1;35", "path": "1", "dim": "2"}


def _paint(on: bool):
    def paint(text: str, what: str) -> str:
        return f"\033[{_COLOURS[what]}m{text}\033[0m" if on else text
    return paint


def _rel(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _lines(path: str, cache: dict) -> list[bytes]:
    lines = cache.get(path)
    if lines is None:
        try:
            with open(path, "rb") as f:
                lines = f.read().split(b"\n")
        except OSError:
            lines = []
        cache[path] = lines
    return lines


def _shown(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r").expandtabs(4)


def _frame(path: str, line: int, col: int, end_line: int, end_col: int, cache: dict) -> list[str]:
    """The source line with a caret under the finding (columns are byte columns, as clang's)."""
    lines = _lines(path, cache)
    if not 0 < line <= len(lines):
        return []
    raw = lines[line - 1]
    lead = len(_shown(raw[:max(col - 1, 0)]))
    stop = end_col - 1 if end_line == line and end_col > col else len(raw.rstrip(b"\r"))
    width = max(1, len(_shown(raw[:stop])) - lead) if end_line == line and end_col > col else 1
    gutter = f"{line:>5} | "
    return [gutter + _shown(raw), " " * len(gutter) + " " * lead + "^" + "~" * (width - 1)]


def render(result: ScanResult, *, colour: bool = False, verbose: bool = False,
           show_frames: bool = True, quiet: bool = False) -> str:
    """The findings and skipped files; quiet leaves out the notes and the summary."""
    paint = _paint(colour)
    out: list[str] = []
    cache: dict = {}
    explained: set[str] = set()
    for f in result.findings:
        head = f"{paint(_rel(f.path), 'path')}:{f.line}:{f.column}: {paint(f.code, f.severity)} {f.message}"
        if f.config:
            head += paint(f" [config: {' '.join(f.config)}]", "dim")
        if f.fix is not None:
            head += paint(f" [fix: {f.fix.get('applicability', 'safe')}]", "dim")
        out.append(head)
        if show_frames:
            out += _frame(f.path, f.line, f.column, f.end_line, f.end_column, cache)
        for s in f.related:
            out.append(paint(f"      {_rel(s.path)}:{s.line}:{s.column}: note: {s.note}", "dim"))
        if f.code not in explained:  # the rule's why and what-to-do, once per report
            explained.add(f.code)
            out.append(paint(f"      why: {f.explanation}", "dim"))
            out.append(paint(f"      fix: {f.action}", "dim"))
        out.append("")
    if result.low_confidence:
        out.append(f"Low confidence, not counted: {len(result.low_confidence)} finding(s) in function "
                   "bodies with parse errors (fix the missing headers or flags below):")
        for f in result.low_confidence:
            config = f" [config: {' '.join(f.config)}]" if f.config else ""
            out.append(f"  {_rel(f.path)}:{f.line}:{f.column}: {f.code} {f.message}{config}")
        out.append("")
    for path, msg in result.problems:
        out.append(f"{_rel(path)}: {paint('skipped', 'warning')}: {msg}")
    if quiet:
        return "\n".join(out) + ("\n" if out else "")
    for m in result.missing_headers:
        where = (f"add -I {_rel(m['include_dir'])}" if m["include_dir"]
                 else "no copy in the scanned tree")
        out.append(f"missing header '{m['header']}' ({len(m['files'])} file(s) need it): {where}")
    if result.included:
        out.append(f"{len(result.included)} included source file(s) analysed inside the file that "
                   "includes them (unity build)")
    if verbose:
        for u in result.unanalysed:
            out.append(f"{_rel(u['path'])}:{u['line']}-{u['end_line']}: inactive branch, "
                       f"{u['lines']} C-API line(s) not analysed ({_hint(u['macros'])})")
    if result.unanalysed:
        out.append(unanalysed_line(result.unanalysed))
    if result.cython:
        out.append(f"{len(result.cython)} Cython-generated file(s) skipped: set the "
                   "`freethreading_compatible=True` directive in the .pyx sources instead")
    bad = result.files_with_errors
    if verbose:
        for d in result.diagnostics:
            out.append(f"{_rel(d.path)}:{d.line}:{d.column}: {d.severity}: {d.message}")
    out.append(summary(result, paint))
    if bad and not verbose:
        out.append(f"{len(bad)} file(s) had parse errors; --verbose for details")
    return "\n".join(out) + "\n"


def rule_counts(result: ScanResult) -> list[tuple[str, str, int, int]]:
    """(code, name, findings, of which fixable) per rule, most findings first."""
    by_rule = Counter((f.code, f.name) for f in result.findings)
    fixes = Counter(f.code for f in result.findings if f.fix is not None)
    return [(code, name, n, fixes[code]) for (code, name), n in
            sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))]


def statistics(result: ScanResult, *, colour: bool = False, **_: object) -> str:
    """`--statistics`, as ruff prints it: count, code, [*] when a fix is offered, name."""
    paint = _paint(colour)
    rows = rule_counts(result)
    width = max((len(str(n)) for _, _, n, _ in rows), default=1)
    return "".join(f"{n:>{width}}\t{paint(code, 'code')}\t{'[*]' if fixable else '[ ]'} {name}\n"
                   for code, name, n, fixable in rows)


def _hint(macros: list[str]) -> str:
    """How to include branches that test these macros: -D for the project's, a free-threaded
    Python's headers for Python's own."""
    top = [m for m in macros if not _PYTHON_MACRO.match(m)][:3]
    hints = [f"-D {', -D '.join(top)} to include"] if top else []
    if any(_PYTHON_MACRO.match(m) for m in macros):
        hints.append("Python's own macros: --python python3.14t")
    return "; ".join(hints) or "#else/#ifndef branches"


def unanalysed_line(unanalysed: list[dict]) -> str:
    """'412 lines using the C API in inactive branches were not analysed (-D HAVE_X to include)'."""
    lines = sum(u["lines"] for u in unanalysed)
    weight: Counter = Counter()
    for u in unanalysed:
        for m in u["macros"]:
            weight[m] += u["lines"]
    hint = _hint([m for m, _ in weight.most_common()])
    return (f"{lines} line{'s' if lines != 1 else ''} using the C API in {len(unanalysed)} inactive "
            f"branch{'es' if len(unanalysed) != 1 else ''} {'were' if lines != 1 else 'was'} not "
            f"analysed ({hint}; --verbose lists them)")


def summary(result: ScanResult, paint=_paint(False)) -> str:
    n = len(result.findings)
    lines = []
    if n:
        by_rule = Counter((f.code, f.name) for f in result.findings)
        for (code, name), count in sorted(by_rule.items()):
            lines.append(f"{count:>5}  {paint(code, 'code')}  {name}")
    extra = []
    if result.suppressed:
        extra.append(f"{result.suppressed} suppressed")
    if result.baselined:
        extra.append(f"{result.baselined} in baseline")
    if result.low_confidence:
        extra.append(f"{len(result.low_confidence)} low-confidence not counted")
    safe, unsafe = result.fixable or (sum(1 for f in result.findings if f.fix is not None),) * 2
    if safe:
        extra.append(f"{safe} fixable with `extmigrate fix`")
    if unsafe > safe:
        extra.append(f"{unsafe} with `extmigrate fix --unsafe-fixes`")
    tail = f" ({', '.join(extra)})" if extra else ""
    lines.append(f"Found {n} finding{'s' if n != 1 else ''} in {result.files_scanned} "
                 f"file{'s' if result.files_scanned != 1 else ''}{tail}.")
    return "\n".join(lines)
