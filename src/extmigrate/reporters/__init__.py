"""Reporters turn a ScanResult into text, JSON or SARIF."""

from __future__ import annotations

from extmigrate.reporters import json_report, sarif, text

FORMATS = {"text": text.render, "json": json_report.render, "sarif": sarif.render}
