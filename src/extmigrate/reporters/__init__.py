"""Reporters turn a ScanResult into text, JSON, SARIF or GitHub workflow annotations."""

from __future__ import annotations

from extmigrate.reporters import github, json_report, sarif, text

FORMATS = {"text": text.render, "json": json_report.render, "sarif": sarif.render, "github": github.render}
# --statistics: counts per rule instead of the findings
STATISTICS = {"text": text.statistics, "json": json_report.statistics}
