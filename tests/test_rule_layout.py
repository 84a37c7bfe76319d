"""Every rule is findable by its name: module, docs, tests; docs/rules.md is the generated reference.
Shared analyses live in extmigrate/analysis/, which imports nothing from rules/."""

from __future__ import annotations

import ast
import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from extmigrate.cli import main
from extmigrate.model import CATEGORIES
from extmigrate.rules import all_rules

ROOT = Path(__file__).resolve().parents[1]
PREFIX = {"borrowed-ref": "FT1", "module-gil": "FT2", "static-state": "FT3", "allocator": "FT4",
          "other": "FT5"}
RULES = all_rules()


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_rule_is_found_by_its_name(rule):
    module = rule.__module__.rsplit(".", 1)[-1]
    assert module == rule.name.replace("-", "_"), f"{rule.code}: module {module} vs name {rule.name}"
    assert (ROOT / "tests" / "rules" / f"test_{module}.py").is_file(), f"{rule.code} has no tests"
    assert rule.category in CATEGORIES and rule.code.startswith(PREFIX[rule.category])
    assert rule.summary and rule.explanation and rule.action
    assert re.search(r"Before", rule.doc) and re.search(r"After", rule.doc), f"{rule.code}: no example"


def test_rule_names_and_codes_are_unique():
    assert len({r.code for r in RULES}) == len({r.name for r in RULES}) == len(RULES)


def test_docs_rules_md_is_generated_from_the_code():
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["rules", "--format", "markdown"]) == 0
    assert (ROOT / "docs" / "rules.md").read_text() == buf.getvalue(), \
        "docs/rules.md is stale: run `extmigrate rules --format markdown > docs/rules.md`"


def test_fix_availability_is_the_remedy_registry():
    """No rule states its own fixability; `extmigrate rules` marks exactly the codes with a remedy."""
    from extmigrate.fix.base import has_remedy

    assert [r.code for r in RULES if "fixable" in vars(r)] == []
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["rules"]) == 0
    marked = {line.split()[0] for line in buf.getvalue().splitlines() if line.split()[3] == "fix"}
    assert marked == {r.code for r in RULES if has_remedy(r.code)}
    # the old Rule.fixable said False for these four, though each has a remedy
    assert {"FT107", "FT108", "FT203", "FT204"} <= marked and not {"FT205", "FT511"} & marked


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every `from extmigrate... import name` / `import extmigrate...` in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("extmigrate"):
            out += [(node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names if a.name.startswith("extmigrate")]
    return out


def _is_rules(module: str) -> bool:
    return module == "extmigrate.rules" or module.startswith("extmigrate.rules.")


PACKAGE = ROOT / "src" / "extmigrate"


def test_rules_use_only_public_names_of_other_rule_modules():
    """Helpers a family of rules shares have public names; nothing reaches into another rule module."""
    bad = [f"{path.name}: {module} {name}" for path in sorted((PACKAGE / "rules").glob("*.py"))
           for module, name in _imports(path)
           if _is_rules(module) and (name.startswith("_") or any(p.startswith("_") for p in module.split(".")))]
    assert bad == []
    assert [p.name for p in (PACKAGE / "rules").glob("_*.py") if p.name != "__init__.py"] == []


def test_analyses_import_nothing_from_rules():
    bad = [f"{path.relative_to(PACKAGE)}: {module} {name}"
           for path in sorted((PACKAGE / "analysis").glob("*.py"))
           for module, name in _imports(path)
           if _is_rules(module) or (module == "extmigrate" and name == "rules")]
    assert bad == []
