"""`extmigrate stress` reports: text in the style of `scan`, JSON, SARIF with the racing stacks as code flows."""

from __future__ import annotations

import json
import os
from pathlib import Path

from extmigrate import __version__
from extmigrate.model import Finding
from extmigrate.reporters.sarif import SCHEMA, _artifact
from extmigrate.runtime.racejoin import Match
from extmigrate.runtime.stress import StressResult
from extmigrate.runtime.tsan import Frame, Race, Stack

SHOWN_FRAMES = 6


def _rule_label(expected: str | None) -> str:
    if not expected:
        return "no rule covers it"
    from extmigrate.rules import all_rules
    rule = next((r for r in all_rules() if r.code == expected), None)
    return f"{rule.code} {rule.name}" if rule else f"a {expected} rule"


def _at(f: Finding, root: str) -> str:
    return f"{os.path.relpath(f.path, root) if os.path.isabs(f.path) else f.path}:{f.line}:{f.column}"


def _frames(stack: Stack, n: int = SHOWN_FRAMES) -> list[str]:
    return [f"          #{f.index} {f.function or '<null>'} {f.where()}" for f in stack.frames[:n]]


def _race_head(race: Race) -> str:
    what = f" on '{race.variable}'" if race.variable and race.variable != "<null>" else ""
    times = f" ({race.count} reports)" if race.count > 1 else ""
    return f"{race.kind}{what}{times}"


def _site_text(race: Race) -> str:
    return " <-> ".join(s.key() + (f" in {s.function}()" if s.function else "") for s in race.sites)


def text(r: StressResult, **_: object) -> str:
    root = r.project
    out = [f"Python {r.interpreter.version} (free-threaded{', ThreadSanitizer' if r.interpreter.tsan else ''})"
           f" at {r.interpreter.exe}",
           f"project {root}: {len(r.modules)} extension module(s) built"
           f"{' with -fsanitize=thread' if r.tsan else ''}", ""]
    for f, matches in r.joined.confirmed:
        out.append(f"{_at(f, root)}: {f.code} confirmed: {f.message}")
        for m in matches:
            out.append(f"      {_race_head(m.race)} at {_site_text(m.race)} (matched by {m.how})")
        out.append("")
    for m in r.joined.dynamic_only:
        out.append(f"{_site_text(m.race)}: dynamic only: {_race_head(m.race)}; "
                   f"should have been seen by: {_rule_label(m.expected)}")
        for st in m.race.report.main_stacks():
            out.append(f"      {st.title}:")
            out += _frames(st)
        out.append("")
    if r.joined.not_exercised:
        out.append("Not exercised by the run:")
        out += [f"  {_at(f, root)}: {f.code} {f.name}" for f in r.joined.not_exercised]
        out.append("")
    out += _tests_text(r)
    out += [f"note: {n}" for n in r.notes]
    if r.work_dir:
        out.append(f"logs and the build are in {r.work_dir}")
    out.append(summary(r))
    return "\n".join(out) + "\n"


def _tests_text(r: StressResult) -> list[str]:
    out = []
    for run in r.runs:
        counts: dict[str, int] = {}
        for o in run.outcomes.values():
            counts[o] = counts.get(o, 0) + 1
        shown = ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or f"exit {run.returncode}"
        extra = " (timed out)" if run.timed_out else ""
        out.append(f"tests in {run.threads} thread{'s' if run.threads > 1 else ''}: {shown}, "
                   f"{run.seconds:.0f} s{extra}")
        if run.error:
            out.append(f"  the run did not reach the tests: {run.error} (logs: {run.log_dir})")
        out += [f"  crash: {c.test or 'unknown test'}: {c.status}: {c.detail}" for c in run.crashes]
    out += [f"  fails only with threads: {t}" for t in r.thread_only_failures]
    out += [f"  crashes only with threads: {c.test or 'unknown test'} ({c.status})"
            for c in r.thread_only_crashes]
    return out


def summary(r: StressResult) -> str:
    j = r.joined
    if not r.tsan:
        return (f"Ran the tests in 1 and {r.threads} threads; races not instrumented (use --tsan); "
                f"{len(r.thread_only_failures)} failure(s) and {len(r.thread_only_crashes)} crash(es) "
                "only with threads.")
    return (f"{len(r.races)} race(s) in the project's code: {len(j.confirmed)} finding(s) confirmed, "
            f"{len(j.dynamic_only)} race(s) dynamic only, {len(j.not_exercised)} finding(s) not exercised"
            f" ({r.interpreter_reports} report(s) inside the interpreter or other libraries left out).")


def _race_dict(race: Race) -> dict:
    return {"kind": race.kind, "count": race.count, "variable": race.variable,
            "location": race.report.location, "summary": race.report.summary,
            "sites": [{"path": s.path, "line": s.line, "function": s.function, "module": s.module,
                       "offset": s.offset} for s in race.sites],
            "stacks": [{"title": st.title, "frames": [f.to_dict() for f in st.frames]}
                       for st in race.report.main_stacks()]}


def _match_dict(m: Match) -> dict:
    return {"race": _race_dict(m.race), "expected_rule": m.expected, "matched_by": m.how or None,
            "findings": [f"{f.code}:{f.path}:{f.line}" for f in m.findings]}


def as_dict(r: StressResult) -> dict:
    j = r.joined
    return {
        "project": r.project,
        "python": {"executable": r.interpreter.exe, "version": r.interpreter.version,
                   "free_threaded": r.interpreter.free_threaded, "tsan": r.interpreter.tsan},
        "tsan": r.tsan, "threads": r.threads, "modules": r.modules, "notes": r.notes,
        "races": [_race_dict(m.race) for m in j.matches],
        "confirmed": [{"finding": f.to_dict(), "races": [_match_dict(m) for m in ms]} for f, ms in j.confirmed],
        "dynamic_only": [_match_dict(m) for m in j.dynamic_only],
        "not_exercised": [f.to_dict() for f in j.not_exercised],
        "static_only": [f.to_dict() for f in j.static_only],
        "interpreter_reports": r.interpreter_reports,
        "tests": {"runs": [run.to_dict() for run in r.runs],
                  "thread_only_failures": r.thread_only_failures,
                  "thread_only_crashes": [c.__dict__ for c in r.thread_only_crashes]},
    }


def json_report(r: StressResult, **_: object) -> str:
    return json.dumps(as_dict(r), indent=2) + "\n"


def _location(f: Frame, root: str, files) -> dict:
    loc: dict = {"message": {"text": f"{f.function or '<null>'} ({f.where()})"}}
    own = files.source(f) if files else None
    path = os.path.join(root, own) if own else f.path
    if path and f.line and os.path.isabs(path):  # a relative path outside the project has no URI
        loc["physicalLocation"] = {"artifactLocation": _artifact(path, root), "region": {"startLine": f.line}}
    if f.function:
        loc["logicalLocations"] = [{"name": f.function, "kind": "function"}]
    return {"location": loc}


def sarif(r: StressResult, **_: object) -> str:
    root = r.project
    results = []
    for m in r.joined.matches:
        race = m.race
        confirmed = ", ".join(f"{f.code} at {_at(f, root)}" for f in m.findings)
        text = (f"ThreadSanitizer: {_race_head(race)} at {_site_text(race)}; "
                + (f"confirms {confirmed}" if m.findings else
                   f"no finding reported it (should have been seen by: {_rule_label(m.expected)})"))
        site = next((s for s in race.sites if s.path), None)
        res = {"ruleId": f"tsan/{race.kind}", "level": "warning" if m.findings else "error",
               "message": {"text": text},
               "codeFlows": [{"threadFlows": [{"message": {"text": st.title},
                                               "locations": [_location(f, root, r.files) for f in st.frames]}
                                              for st in race.report.main_stacks()]}]}
        if site:
            res["locations"] = [{"physicalLocation": {
                "artifactLocation": _artifact(os.path.join(root, site.path), root),
                "region": {"startLine": site.line}}}]
        if m.findings:
            res["relatedLocations"] = [{"id": i, "message": {"text": f"{f.code} {f.name}"},
                                        "physicalLocation": {"artifactLocation": _artifact(f.path, root),
                                                             "region": {"startLine": f.line,
                                                                        "startColumn": max(f.column, 1)}}}
                                       for i, f in enumerate(m.findings)]
        results.append(res)
    kinds = sorted({m.race.kind for m in r.joined.matches})
    doc = {"$schema": SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "extmigrate-stress", "version": __version__,
                            "rules": [{"id": f"tsan/{k}", "shortDescription": {"text": f"ThreadSanitizer {k}"}}
                                      for k in kinds]}},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(root).as_uri() + "/"}},
        "invocations": [{"executionSuccessful": True,
                         "toolExecutionNotifications": [{"level": "note", "message": {"text": n}}
                                                        for n in r.notes]}],
        "results": results}]}
    return json.dumps(doc, indent=2) + "\n"


FORMATS = {"text": text, "json": json_report, "sarif": sarif}
