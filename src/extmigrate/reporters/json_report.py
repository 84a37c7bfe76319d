"""`--format json`: the stable schema documented in docs/json-schema.md (schema_version 1)."""

from __future__ import annotations

import json
import os
from collections import Counter

from extmigrate import __version__
from extmigrate.scan import ScanResult
from extmigrate.suppress import baseline_key

SCHEMA_VERSION = 1
FIELDS = ("code", "name", "category", "severity", "path", "line", "column", "end_line",
          "end_column", "function", "symbol", "message", "explanation", "action", "related",
          "sites", "fixable", "fix", "confidence", "config")


def finding_dict(f, root: str) -> dict:
    d = f.to_dict()
    out = {k: d[k] for k in FIELDS}
    out["fingerprint"] = baseline_key(f, root)
    return out


def statistics(result: ScanResult, **_: object) -> str:
    """`--statistics --format json`: one object per rule, most findings first."""
    from extmigrate.reporters.text import rule_counts

    return json.dumps([{"code": code, "name": name, "count": n, "fixable": fixable}
                       for code, name, n, fixable in rule_counts(result)], indent=2) + "\n"


def render(result: ScanResult, *, root: str | None = None, **_: object) -> str:
    root = os.path.abspath(root or os.getcwd())
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "extmigrate", "version": __version__},
        "summary": {
            "findings": len(result.findings),
            "by_rule": dict(sorted(Counter(f.code for f in result.findings).items())),
            "low_confidence": len(result.low_confidence),
            "unanalysed_capi_lines": sum(u["lines"] for u in result.unanalysed),
            "files_scanned": result.files_scanned,
            "files_with_parse_errors": len(result.files_with_errors),
            "suppressed": result.suppressed,
            "baselined": result.baselined,
            "rules": list(result.rule_codes),
        },
        "findings": [finding_dict(f, root) for f in result.findings + result.low_confidence],
        "missing_headers": result.missing_headers,
        "included_sources": [{"path": p, "included_by": i} for p, i in sorted(result.included.items())],
        "unanalysed_branches": result.unanalysed,
        "problems": [{"path": p, "message": m} for p, m in result.problems],
        "diagnostics": [d.to_dict() for d in result.diagnostics],
        "cython_skipped": list(result.cython),
    }
    return json.dumps(doc, indent=2) + "\n"
