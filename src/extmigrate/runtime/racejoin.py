"""Join ThreadSanitizer races with a static scan of the same tree.

confirmed:     a finding whose span, related site, variable or function is where a race happened
dynamic only:  a race no finding matches, with the rule that should have reported it (if any)
not exercised: findings of racing kinds that no race touched
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from extmigrate.model import Finding
from extmigrate.runtime.tsan import Project, Race, Site

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_SIZE = re.compile(r" of size (\d+)")


@lru_cache(maxsize=None)
def data() -> dict:
    """data/tsan.toml."""
    return tomllib.loads(resources.files("extmigrate").joinpath("data/tsan.toml").read_text("utf-8"))


def expected_rule(race: Race) -> str | None:
    """The rule code or category that should have seen race, from what it touched."""
    exp = data()["expected"]
    if race.kind == "heap-use-after-free":
        return exp["use_after_free"]
    if race.kind != "data-race":
        return None
    loc = race.report.location or ""
    if loc.startswith("global "):
        m = _SIZE.search(loc)
        big = m is not None and int(m.group(1)) >= exp["buffer_min_size"]
        return exp["global_buffer"] if big else exp["global_scalar"]
    if len(race.sites) < len(race.report.main_stacks()) or any(s.depth for s in race.sites):
        return exp["interpreter_writer"]  # one access is inside the interpreter: a container's internals
    return exp["both_in_project"]  # an object's fields (heap, or a location TSan could not name)


@dataclass
class Match:
    race: Race
    findings: list[Finding]
    how: str  # span | related | variable | function | "" (none)
    expected: str | None


@dataclass
class Join:
    matches: list[Match] = field(default_factory=list)
    not_exercised: list[Finding] = field(default_factory=list)
    static_only: list[Finding] = field(default_factory=list)  # kinds no run can show (module-gil, ...)

    @property
    def confirmed(self) -> list[tuple[Finding, list[Match]]]:
        """Each confirmed finding once, with the races that confirm it, in source order."""
        by_id: dict[int, tuple[Finding, list[Match]]] = {}
        for m in self.matches:
            for f in m.findings:
                by_id.setdefault(id(f), (f, []))[1].append(m)
        return sorted(by_id.values(), key=lambda fm: fm[0].sort_key)

    @property
    def dynamic_only(self) -> list[Match]:
        return [m for m in self.matches if not m.findings]


def _fits(f: Finding, expected: str | None) -> bool:
    return expected is None or f.code == expected or f.category == expected


def _candidates(race: Race, sites: list[Site], findings: list[tuple[str, Finding]],
                expected: str | None, root: str) -> tuple[list[Finding], str]:
    """The findings race confirms, by the most precise kind of match that finds any."""
    at = {(s.path, s.line) for s in sites if s.path and s.line}
    files = {s.path for s in sites if s.path}
    tiers = [
        ("span", lambda rel, f: any(p == rel and f.line <= ln <= max(f.end_line, f.line) for p, ln in at)),
        ("related", lambda rel, f: any((_rel(r.path, root), r.line) in at for r in f.related)),
        ("variable", lambda rel, f: race.variable is not None and f.symbol == race.variable
                                    and (not files or rel in files)),
        ("function", lambda rel, f: _fits(f, expected) and any(
            s.function and s.function == f.function and (s.path is None or s.path == rel) for s in sites)),
    ]
    for how, test in tiers:
        hit = [f for rel, f in findings if test(rel, f)]
        if hit:
            return hit, how
    return [], ""


def _rel(path: str, root: str) -> str:
    return os.path.relpath(os.path.realpath(path), root).replace(os.sep, "/")


def join(races: list[Race], findings: list[Finding], project: Project) -> Join:
    rel = [(_rel(f.path, project.root), f) for f in findings]
    out = Join()
    touched: set[int] = set()
    for race in races:
        expected = expected_rule(race)
        hit, how = _candidates(race, race.sites, rel, expected, project.root)
        touched.update(id(f) for f in hit)
        out.matches.append(Match(race, hit, how, expected))
    racing = set(data()["categories"]["racing"])
    for _, f in rel:
        if id(f) in touched:
            continue
        (out.not_exercised if f.category in racing else out.static_only).append(f)
    return out
