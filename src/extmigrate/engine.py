"""Analyse translation units with the selected rules and combine their results."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from extmigrate import coverage
from extmigrate.brokenparse import broken_functions, mark_low_confidence
from extmigrate.fix.base import propose_fixes
from extmigrate.flags import TUSpec
from extmigrate.model import Diagnostic, Finding
from extmigrate.parse import diagnostics, parse, project_includes
from extmigrate.rules import get_rule
from extmigrate.tree import TUView


@dataclass
class TUResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # rule code -> facts
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # project files this TU covered
    includes: list[str] = field(default_factory=list)  # project files the parse read (cache.py)
    unanalysed: list[dict] = field(default_factory=list)  # inactive C-API branches (coverage.py)
    broken: list[list] = field(default_factory=list)  # [path, line, end_line] of bodies with errors
    extra_facts: list[dict] = field(default_factory=list)  # rule facts of each extra configuration
    config_regions: list[list] = field(default_factory=list)  # [path, first, last, flags] (coverage.py)
    error: str | None = None  # the TU could not be analysed at all (timeout, crash, unreadable)


def project_filter(roots: list[str]) -> Callable[[str], bool]:
    """A file belongs to the project when it lies under one of the scanned roots (or, for a root
    that is a file, in that file's folder)."""
    prefixes = []
    for r in roots:
        real = os.path.realpath(r)
        if os.path.isfile(real):  # a file named alone brings its folder's headers and included .c files
            real = os.path.dirname(real)
        prefixes.append(real.rstrip(os.sep) + os.sep)
    cache: dict[str, bool] = {}

    def ok(path: str) -> bool:
        hit = cache.get(path)
        if hit is None:
            real = os.path.realpath(path)
            hit = cache[path] = any(real == p or real.startswith(p) for p in prefixes)
        return hit

    return ok


def analyse(spec: TUSpec, rule_codes: list[str], roots: list[str],
            extra_args: list[str] | None = None) -> TUResult:
    """Parse one TU and run every rule on it (in a worker process)."""
    result = TUResult(spec.path)
    try:
        tu = parse(spec, extra_args)
    except Exception as e:  # libclang raises TranslationUnitLoadError with no detail
        result.error = f"libclang could not parse the file ({type(e).__name__})"
        return result
    result.diagnostics = diagnostics(tu, spec)
    in_project = project_filter(roots + [spec.path])
    view = TUView(tu, spec.path, in_project)
    result.files = sorted(view.files)
    result.includes = project_includes(tu, spec.path, in_project)
    try:
        for code in rule_codes:
            rule = get_rule(code)()
            found = rule.check(view)
            propose_fixes(view, found)  # remedies need the live TU; cheap (local text edits)
            result.findings.extend(found)
            facts = rule.collect(view)
            if facts is not None:
                result.facts[code] = facts
        result.broken = broken_functions(tu, view)
        inactive = coverage.branches(tu, view)
    finally:
        view.close()
    if inactive:
        seen = {(f.code, f.path, f.line, f.column, f.symbol) for f in result.findings}
        extra = coverage.analyse_configs(spec, extra_args or [], rule_codes, in_project, inactive, seen)
        result.findings += extra.findings
        result.extra_facts, result.config_regions = extra.facts, extra.regions
        result.broken += extra.broken  # for findings the project-wide step makes there
        result.unanalysed = coverage.left_out(inactive)
    return result


def combine(results: list[TUResult], rule_codes: list[str], roots: list[str]) -> list[Finding]:
    """Project-wide step: deduplicate header findings, read build files, run each rule's finish()."""
    seen: set[tuple] = set()
    findings: list[Finding] = []
    rules = [get_rule(c)() for c in rule_codes]
    file_findings = [f for rule in rules for f in rule.check_files(roots)]
    own = [f for r in results for f in r.findings if not f.config]
    extra = [f for r in results for f in r.findings if f.config]  # code one TU compiled, another not
    for batch in [own, file_findings, extra]:
        for f in batch:
            key = (f.code, f.path, f.line, f.column, f.symbol)
            if key not in seen:
                seen.add(key)
                findings.append(f)
    for rule in sorted(rules, key=lambda r: r.runs_last):
        facts = [r.facts[rule.code] for r in results if rule.code in r.facts]
        facts += [x[rule.code] for r in results for x in r.extra_facts if rule.code in x]
        for f in rule.finish(facts, findings):
            key = (f.code, f.path, f.line, f.column, f.symbol)
            if key not in seen:
                seen.add(key)
                findings.append(f)
    mark_low_confidence(findings, [b for r in results for b in r.broken])
    coverage.tag(findings, [g for r in results for g in r.config_regions])
    findings.sort(key=lambda f: f.sort_key)
    return findings
