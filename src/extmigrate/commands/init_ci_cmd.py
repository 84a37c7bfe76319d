"""`extmigrate init-ci`: cibuildwheel config and a wheels workflow for GIL and free-threaded builds."""

from __future__ import annotations

import os
import re
import sys
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import jinja2

from extmigrate.fileio import WriteRefused, write_file
from extmigrate.fix.compat import min_from_spec, parse_version
from extmigrate.flags import ConfigError

WORKFLOW = os.path.join(".github", "workflows", "wheels.yml")
TABLE = "tool.cibuildwheel"
_SAFE_DIR = re.compile(r"[A-Za-z0-9._/-]+")
# A table header line: [name] or [[name]], with an optional comment.
_HEADER = re.compile(r"^[ \t]*\[\[?[ \t]*([^\]\[#]+?)[ \t]*\]\]?[ \t]*(?:#.*)?$")


def add_parser(sub) -> None:
    p = sub.add_parser("init-ci", help="write cibuildwheel config and a wheels workflow (GIL + free-threaded)",
                       description="Append a [tool.cibuildwheel] table (CPython with the GIL plus free-threaded "
                                   "3.14t, tests under pytest-run-parallel, PYTHON_GIL=0 for free-threaded "
                                   "wheels) to the package's pyproject.toml and write "
                                   ".github/workflows/wheels.yml. Existing ones are kept unless --force. "
                                   "Exit 0: written, 1: refused (already there), 2: usage error.")
    p.add_argument("project", nargs="?", default=".", metavar="PROJECT_DIR",
                   help="repository root: the workflow goes to .github/workflows/ there (default: .)")
    p.add_argument("--package-dir", default=".", metavar="DIR",
                   help="folder of the package's pyproject.toml, relative to PROJECT_DIR (default: .)")
    p.add_argument("--verify", action="store_true",
                   help="also a job running `extmigrate verify` (builds and tests the project free-threaded "
                        "in 4 threads; on pull requests against the base commit)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing [tool.cibuildwheel] table and wheels.yml")
    p.set_defaults(run=run)


def _settings() -> dict:
    raw = resources.files("extmigrate").joinpath("data/init_ci.toml").read_bytes()
    return tomllib.loads(raw.decode("utf-8"))


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("extmigrate", "templates/init_ci"),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False)


def _versions(spec, data: dict) -> list[str]:
    """CPython X.Y versions to build with the GIL, from requires-python within what cibuildwheel builds."""
    oldest, newest = parse_version(data["oldest"]), parse_version(data["newest"])
    low = min_from_spec(spec) if isinstance(spec, str) else None
    low = min(max(low or parse_version(data["default-oldest"]), oldest), newest)
    return [f"{newest[0]}.{minor}" for minor in range(low[1], newest[1] + 1)]


def render(package: str, package_dir: str, doc: dict, verify: bool = False) -> tuple[str, str]:
    """(the [tool.cibuildwheel] text, the workflow text) for the project `doc` (parsed pyproject.toml);
    with verify, the workflow has an `extmigrate verify` job too."""
    data = _settings()
    project = doc.get("project", {}) if isinstance(doc.get("project"), dict) else {}
    name = project.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        name = re.sub(r"[^A-Za-z0-9._-]", "-", os.path.basename(os.path.abspath(package))) or "project"
    extras = project.get("optional-dependencies", {})
    test_extra = next((e for e in ("test", "tests") if isinstance(extras, dict) and e in extras), None)
    tests = next((t for t in ("tests", "test") if os.path.isdir(os.path.join(package, t))), "tests")
    env = _env()
    table = env.get_template("cibuildwheel.toml.j2").render(
        gil_versions=_versions(project.get("requires-python"), data), ft_versions=data["free-threaded"],
        test_extra=test_extra, tests=tests)
    pyproject = "pyproject.toml" if package_dir == "." else f"{package_dir}/pyproject.toml"
    workflow = env.get_template("wheels.yml.j2").render(
        name=name, package_dir=package_dir, pyproject=pyproject, action=data["action"], verify=verify,
        setup_python=data["setup-python"], verify_ft=data["verify-free-threaded"],
        verify_tool=data["verify-tool-python"])
    return table, workflow


def table_blocks(text: str) -> list[tuple[int, int]]:
    """Line ranges [start, end) of the tables named tool.cibuildwheel or tool.cibuildwheel.*.

    A table's block starts at the comment lines right above its header and ends before the next
    table's block, trailing blank lines left out.
    """
    lines = text.splitlines(keepends=True)

    def lead(i: int) -> int:
        while i > 0 and lines[i - 1].lstrip().startswith("#"):
            i -= 1
        return i

    headers = []
    for i, line in enumerate(lines):
        m = _HEADER.match(line.rstrip("\r\n"))
        if m:
            key = ".".join(part.strip().strip("\"'") for part in m.group(1).split("."))
            headers.append((i, key == TABLE or key.startswith(TABLE + ".")))
    blocks = []
    for n, (i, ours) in enumerate(headers):
        if ours:
            end = lead(headers[n + 1][0]) if n + 1 < len(headers) else len(lines)
            while end > i + 1 and not lines[end - 1].strip():
                end -= 1
            blocks.append((lead(i), end))
    return blocks


def _without_table(doc: dict) -> dict:
    out = dict(doc)
    tool = out.get("tool")
    if isinstance(tool, dict):
        tool = {k: v for k, v in tool.items() if k != "cibuildwheel"}
        if tool:
            out["tool"] = tool
        else:
            del out["tool"]
    return out


def new_pyproject(text: str, table: str) -> tuple[str, list[tuple[int, int]]]:
    """The pyproject text with `table` appended, or put in place of the existing tables (verified)."""
    nl = "\r\n" if "\r\n" in text else "\n"
    blocks = table_blocks(text)
    body = table.replace("\n", nl)
    if not blocks:
        if text and not text.endswith("\n"):
            text += nl
        sep = "" if not text.strip() or text.endswith(nl + nl) else nl
        return text + sep + body, []
    lines = text.splitlines(keepends=True)
    kept = [line for i, line in enumerate(lines) if not any(s <= i < e for s, e in blocks)]
    first = blocks[0][0]
    after = kept[first:]
    while len(after) > 1 and not after[0].strip() and not after[1].strip():
        after.pop(0)  # blank lines left between removed tables
    if after and after[0].strip():
        after.insert(0, nl)
    new_lines = kept[:first] + [body] + after
    return "".join(new_lines), blocks


def _check(old_doc: dict, new_text: str, table: str, path: str) -> None:
    """The new file must parse, hold exactly the rendered table and leave everything else as it was."""
    try:
        new_doc = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError:
        new_doc = None
    want = tomllib.loads(table)["tool"]["cibuildwheel"]
    new_tool = new_doc.get("tool") if new_doc is not None else None
    if not isinstance(new_tool, dict) or new_tool.get("cibuildwheel") != want or \
            _without_table(new_doc) != _without_table(old_doc):
        tool = old_doc.get("tool")
        verb = "replace" if isinstance(tool, dict) and "cibuildwheel" in tool else "add"
        raise ConfigError(f"{path}: cannot {verb} [tool.cibuildwheel] safely as text (is it written with "
                          f"dotted keys or an inline table?); not changed. Put this in by hand:\n{table}")


def _read(path: str) -> tuple[bytes, str]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (cibuildwheel reads its settings from the package's "
                          "pyproject.toml; see --package-dir)") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        return raw, raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None


def run(args) -> int:
    root = args.project
    if not os.path.isdir(root):
        raise ConfigError(f"{root}: not a folder")
    pkg = os.path.normpath(args.package_dir).replace(os.sep, "/")
    if os.path.isabs(args.package_dir) or pkg.startswith("..") or not _SAFE_DIR.fullmatch(pkg):
        raise ConfigError(f"--package-dir {args.package_dir!r}: give a folder inside PROJECT_DIR, "
                          "relative to it (letters, digits, '.', '_', '-', '/')")
    package = os.path.normpath(os.path.join(root, pkg))
    pyproject = os.path.join(package, "pyproject.toml")
    raw, text = _read(pyproject)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{pyproject}: invalid TOML ({e})") from None
    table, workflow = render(package, pkg, doc, verify=getattr(args, "verify", False))
    if not any(os.path.isdir(os.path.join(package, t)) for t in ("tests", "test")):
        print(f"note: {package} has no tests/ folder: adjust test-command in [tool.cibuildwheel]",
              file=sys.stderr)
    wf_path = os.path.normpath(os.path.join(root, WORKFLOW))
    has_table = isinstance(doc.get("tool"), dict) and "cibuildwheel" in doc["tool"]
    has_workflow = os.path.exists(wf_path)
    if (has_table or has_workflow) and not args.force:
        for there, what in ((has_table, f"{pyproject}: [tool.cibuildwheel] exists"),
                            (has_workflow, f"{wf_path}: exists")):
            if there:
                print(f"{what}; not changed (--force replaces it)", file=sys.stderr)
        print("nothing written", file=sys.stderr)
        return 1
    new_text, replaced = new_pyproject(text, table)
    _check(doc, new_text, table, pyproject)
    old_wf = _read(wf_path)[0] if has_workflow else None
    try:
        write_file(pyproject, new_text.encode("utf-8"), expect=raw, inside=[root])
        if replaced:
            spans = ", ".join(f"{s + 1}-{e}" for s, e in replaced)
            print(f"{pyproject}: replaced [tool.cibuildwheel] (old lines {spans})")
        else:
            print(f"{pyproject}: appended [tool.cibuildwheel]")
        os.makedirs(os.path.dirname(wf_path), exist_ok=True)
        write_file(wf_path, workflow.encode("utf-8"), expect=old_wf, inside=[root])
    except WriteRefused as e:
        print(f"not changed: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        raise ConfigError(f"cannot write: {e.strerror or e} ({e.filename})") from None
    print(f"{wf_path}: {'replaced' if old_wf is not None else 'written'}")
    return 0
