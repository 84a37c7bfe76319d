"""`--format sarif`: SARIF 2.1.0 as GitHub code scanning accepts it."""

from __future__ import annotations

import json
import os
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from extmigrate import __version__
from extmigrate.scan import ScanResult
from extmigrate.suppress import baseline_key

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "note": "note"}
# GitHub code scanning's own severity property for non-security rules.
_PROBLEM = {"error": "error", "warning": "warning", "note": "recommendation"}


def _uri(path: str, root: str) -> tuple[str, dict]:
    rel = os.path.relpath(path, root)
    if rel.startswith(".."):
        return Path(path).as_uri(), {}
    return rel.replace(os.sep, "/"), {"uriBaseId": "%SRCROOT%"}


def _artifact(path: str, root: str) -> dict:
    uri, base = _uri(path, root)
    return {"uri": uri, **base}


@lru_cache(maxsize=1)
def _precision() -> dict:
    """data/precision.toml, which scripts/accuracy.py writes from the triaged corpus."""
    return tomllib.loads(resources.files("extmigrate").joinpath("data/precision.toml").read_text("utf-8"))


def precision(code: str) -> str:
    """The rule's SARIF precision: measured on the corpus, else the table's `unmeasured` level."""
    table = _precision()
    return table.get("rules", {}).get(code, {}).get("sarif", table["unmeasured"])


def _rule_meta(rule) -> dict:
    help_md = rule.doc.strip() or rule.summary
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.explanation},
        "help": {"text": f"{rule.explanation}\n\nFix: {rule.action}", "markdown": help_md},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {"category": rule.category, "tags": ["free-threading", rule.category],
                       "precision": precision(rule.code), "problem.severity": _PROBLEM[rule.severity]},
    }


def _fixes(f, root: str) -> list[dict]:
    if not f.fix or not f.fix.get("edits"):
        return []
    changes: dict[str, list] = {}
    for e in f.fix["edits"]:
        changes.setdefault(e["path"], []).append({
            "deletedRegion": {"byteOffset": e["start"], "byteLength": e["end"] - e["start"]},
            "insertedContent": {"text": e["text"]},
        })
    return [{
        "description": {"text": f.fix.get("description", "apply the extmigrate remedy")},
        "artifactChanges": [{"artifactLocation": _artifact(p, root), "replacements": r}
                            for p, r in changes.items()],
    }]


def render(result: ScanResult, *, root: str | None = None, **_: object) -> str:
    root = os.path.abspath(root or os.getcwd())
    from extmigrate.rules import all_rules

    rules = [r for r in all_rules() if r.code in set(result.rule_codes)] or all_rules()
    index = {r.code: i for i, r in enumerate(rules)}
    results = []
    seen: dict[str, int] = {}
    for f in result.findings + result.low_confidence:
        key = baseline_key(f, root)
        seen[key] = seen.get(key, 0) + 1  # same rule/file/function/symbol twice: keep both alerts
        region = {"startLine": f.line, "startColumn": f.column,
                  "endLine": max(f.end_line, f.line), "endColumn": max(f.end_column, 1)}
        res = {
            "ruleId": f.code,
            "ruleIndex": index.get(f.code, 0),
            "level": _LEVEL.get(f.severity, "warning"),
            "message": {"text": f"{f.message} Why: {f.explanation} Fix: {f.action}"},
            "locations": [{"physicalLocation": {"artifactLocation": _artifact(f.path, root),
                                                "region": region}}],
            "partialFingerprints": {"extmigrate/v1": f"{key}:{seen[key]}"},
            "rank": 10.0 if f.confidence == "low" else 100.0,
        }
        if f.confidence == "low" or f.config:
            res["properties"] = {"confidence": f.confidence, "config": list(f.config)}
        if f.function:
            res["locations"][0]["logicalLocations"] = [{"name": f.function, "kind": "function"}]
        shown = {(s.path, s.line, s.column) for s in f.related}
        places = f.related + [s for s in f.sites if (s.path, s.line, s.column) not in shown]
        if places:
            res["relatedLocations"] = [
                {"id": i, "message": {"text": s.note or "related"},
                 "physicalLocation": {"artifactLocation": _artifact(s.path, root),
                                      "region": {"startLine": s.line, "startColumn": max(s.column, 1)}}}
                for i, s in enumerate(places)]
        fixes = _fixes(f, root)
        if fixes:
            res["fixes"] = fixes
        results.append(res)
    notifications = [{"level": "warning", "message": {"text": m},
                      "locations": [{"physicalLocation": {"artifactLocation": _artifact(os.path.abspath(p), root)}}]}
                     for p, m in result.problems]
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "extmigrate", "version": __version__,
                                "rules": [_rule_meta(r) for r in rules]}},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(root).as_uri() + "/"}},
            "invocations": [{"executionSuccessful": True,
                             "toolExecutionNotifications": notifications}],
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2) + "\n"
