"""Parse one translation unit with libclang and collect its diagnostics.

Most of a parse is Python.h.  A file whose first lines only define macros and include headers from
outside the project (Python.h, numpy, the C library) gets that *prelude* precompiled once per scan and
per configuration (libclang version, flags, the prelude's own text), and is parsed on top of it.  The
file's own copies of those lines then re-include guarded headers, which is a no-op, so the result is
the same as a plain parse.  Anything else before the last of those lines (an #if, a project header,
code) and the file is parsed plainly.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

from clang import cindex

from extmigrate.cursors import included_names
from extmigrate.fileio import touch, write_file
from extmigrate.flags import TUSpec, include_dirs  # noqa: F401  (include_dirs: re-exported)
from extmigrate.model import Diagnostic

PARSE_KEEP_GOING = 0x200  # CXTranslationUnit_KeepGoing: a missing header does not stop the parse
OPTIONS = cindex.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD | PARSE_KEEP_GOING
PCH_OPTIONS = OPTIONS | cindex.TranslationUnit.PARSE_INCOMPLETE | 0x10  # 0x10: ForSerialization
_SEVERITY = {cindex.Diagnostic.Error: "error", cindex.Diagnostic.Fatal: "fatal"}
FLAGS_REJECTED = "clang refused this file's compile flags; parsed with its include paths and macros only"
_PCH_TROUBLE = ("precompiled header", "PCH file", "AST file", "pch")

_index: cindex.Index | None = None


def index() -> cindex.Index:
    """One index per process; declarations that come from a PCH are never visited (excludeDecls)."""
    global _index
    if _index is None:
        _index = cindex.Index.create(excludeDecls=True)
    return _index


@functools.cache
def clang_version() -> str:
    fn = cindex.conf.lib["clang_getClangVersion"]  # a private prototype: cindex declares none
    fn.argtypes, fn.restype = [], cindex._CXString
    return cindex._CXString.from_result(fn())


# libclang-ng adds its bundled libc++ headers to every parse.  Next to the system's libstdc++ they
# clash ("unknown type name 'ldiv_t'" ... "too many errors") and C++ files lose most of their AST, so
# the bundled headers are used only for C++ and only where clang finds no C++ library of its own.
_BUNDLED_LIBCXX = cindex.Config.libcxx_dir
cindex.Config.libcxx_dir = None


@functools.cache
def bundled_libcxx_args() -> tuple[str, ...]:
    if not _BUNDLED_LIBCXX or not os.path.isdir(_BUNDLED_LIBCXX):
        return ()
    probe = "#include <cstddef>\n#include <cstdlib>\n#include <string>\n"
    tu = index().parse("probe.cpp", args=["-x", "c++", "-std=c++17"], unsaved_files=[("probe.cpp", probe)])
    if any(d.severity >= cindex.Diagnostic.Error for d in tu.diagnostics):
        return ("-isystem", _BUNDLED_LIBCXX)
    return ()


def _is_cxx(args: list[str]) -> bool:
    return any(a == "c++" and i and args[i - 1] == "-x" for i, a in enumerate(args)) or \
        any(a.startswith("-std=c++") or a.startswith("-std=gnu++") for a in args)


def clang_args(spec: TUSpec, extra_args: list[str] | None = None) -> list[str]:
    """The full argument list a file is parsed with (its PCH is built with the same list)."""
    args = list(spec.args) + ["-w", "-ferror-limit=1000"] + list(extra_args or [])
    if _is_cxx(args):
        args += bundled_libcxx_args()
    if spec.directory and not any(a.startswith("-working-directory") for a in args):
        args.append(f"-working-directory={spec.directory}")
    return args


def parse(spec: TUSpec, extra_args: list[str] | None = None) -> cindex.TranslationUnit:
    """Parse a file; flags clang refuses outright are retried as include paths and macros only.

    The retried TU carries `flags_rejected` (diagnostics() reports it as an error)."""
    args = clang_args(spec, extra_args)
    if spec.pch:
        tu = index().parse(spec.path, args=args + ["-include-pch", spec.pch], options=OPTIONS)
        if not any(d.severity >= cindex.Diagnostic.Error and _about_pch(d.spelling) for d in tu.diagnostics):
            tu.pch_files = pch_files(spec.pch)
            return tu
    try:
        return index().parse(spec.path, args=args, options=OPTIONS)
    except cindex.TranslationUnitLoadError:
        safe = _basic_args(args)
        if safe == args or not os.path.isfile(spec.path):
            raise
        tu = index().parse(spec.path, args=safe, options=OPTIONS)
        tu.flags_rejected = True
        return tu


def _basic_args(args: list[str]) -> list[str]:
    """Include paths, macros and the language of an argument list; nothing clang could refuse."""
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a in ("-I", "-D", "-U", "-isystem", "-iquote", "-x") and i + 1 < len(args):
            if a != "-x" or args[i + 1] in ("c", "c++"):
                out += [a, args[i + 1]]
            i += 2
            continue
        if a.startswith(("-I", "-D", "-U", "-isystem", "-iquote", "-working-directory=")) or a == "-w":
            out.append(a)
        i += 1
    return out


def _about_pch(message: str) -> bool:
    return any(word in message for word in _PCH_TROUBLE)


# -- the precompiled prelude ----------------------------------------------------------------------
_LINE_COMMENT = re.compile(rb"//[^\n]*")
_BLOCK_COMMENT = re.compile(rb"/\*.*?\*/", re.S)
_DEFINE = re.compile(rb"#\s*(define\s+[A-Za-z_]\w*(\s.*)?|undef\s+[A-Za-z_]\w*\s*)$")
_INCLUDE = re.compile(rb'#\s*include\s*([<"])([^>"]+)[>"]\s*$')
PYTHON_H = ("Python.h", "python.h")
# Headers without include guards by design, whose re-inclusion is idempotent.
REINCLUDABLE = {"assert.h", "stddef.h", "stdarg.h"}
PRELUDE_BYTES = 64 * 1024


_GUARD_IF = re.compile(rb"#\s*(ifndef\s+(\w+)|if\s+!\s*defined\s*\(?\s*(\w+)\s*\)?)\s*$")
_PRAGMA_ONCE = re.compile(rb"#\s*pragma\s+once\s*$")


def prelude(spec: TUSpec, is_project_file) -> str | None:
    """The defines and non-project includes a file starts with, up to its last include at or after
    Python.h (followed into a first project header, e.g. "module.h" that includes Python.h), or None.

    Closed #if blocks of such lines count too; build_pch() refuses the prelude when a name tested in
    one could evaluate differently when the file's own copy of the block is read again."""
    kept: list[bytes] = []
    state = {"upto": 0, "python_at": -1}
    _scan_head(spec.path, include_dirs(spec.args), is_project_file, kept, state, set())
    if not state["upto"]:
        return None
    return b"\n".join(kept[:state["upto"]]).decode("utf-8", "replace") + "\n"


_CONDITIONAL = re.compile(rb"#\s*(if|ifdef|ifndef|elif|else|endif)\b(.*)$")
NOT_MACROS = {"defined", "__has_include", "__has_include_next", "__has_attribute", "__has_builtin",
              "__has_feature", "__has_extension", "__has_c_attribute", "__has_cpp_attribute"}


def condition_names(text: str) -> set[str]:
    """Identifiers tested by the #if/#ifdef/#ifndef/#elif lines of a prelude."""
    names: set[str] = set()
    for line in text.encode("utf-8", "surrogateescape").split(b"\n"):
        m = _CONDITIONAL.match(line.strip())
        if m and m.group(1) in (b"if", b"ifdef", b"ifndef", b"elif"):
            names.update(n.decode() for n in re.findall(rb"[A-Za-z_]\w*", m.group(2)))
    return names - NOT_MACROS


def _unstable_names(text: str, args: list[str]) -> set[str]:
    """Macros whose state at an #if may differ from their state at the end of the prelude: those
    the prelude #undefs and those the command line sets (a header could #undef them)."""
    names = set(re.findall(r"#\s*undef\s+([A-Za-z_]\w*)", text))
    return names | {re.split(r"[=(]", a[2:], maxsplit=1)[0] for a in args if a.startswith(("-D", "-U"))}


def _lines(path: str) -> list[bytes]:
    try:
        with open(path, "rb") as f:
            head = f.read(PRELUDE_BYTES)
    except OSError:
        return []
    head = _BLOCK_COMMENT.sub(lambda m: b"\n" * m.group(0).count(b"\n"), head)
    head = _LINE_COMMENT.sub(b"", head.replace(b"\\\r\n", b"").replace(b"\\\n", b""))
    lines = [ln.strip() for ln in head.split(b"\n")[:-1]]  # the last piece may be cut off
    return [ln for ln in lines if ln]


def _scan_head(path: str, dirs: list[str], is_project_file, kept: list[bytes], state: dict,
               seen: set[str]) -> None:
    if path in seen or len(seen) > 8:
        return
    header = bool(seen)
    seen.add(path)
    lines = _lines(path)
    i = 0
    if header and len(lines) > 1:  # skip a header's include guard
        m = _GUARD_IF.match(lines[0])
        guard = m and (m.group(2) or m.group(3))
        if guard and re.match(rb"#\s*define\s+" + re.escape(guard) + rb"(\s|$)", lines[1]):
            i = 2
    depth, block_start = 0, 0  # open #if blocks of this file, where the outermost one began
    for line in lines[i:]:
        if _PRAGMA_ONCE.match(line):
            continue
        if _DEFINE.match(line):
            kept.append(line)
            continue
        cond = _CONDITIONAL.match(line)
        if cond:
            word = cond.group(1)
            if word in (b"if", b"ifdef", b"ifndef"):
                if depth == 0:
                    block_start = len(kept)
                depth += 1
            elif depth == 0:
                break
            elif word == b"endif":
                depth -= 1
            kept.append(line)
            continue
        m = _INCLUDE.match(line)
        if not m or b"\0" in line:
            break
        name = m.group(2).decode("utf-8", "replace")
        found = _resolve(name, m.group(1) == b'"', os.path.dirname(path), dirs)
        if found and is_project_file(found):
            if depth == 0 and state["python_at"] < 0:  # follow it: it may include Python.h
                _scan_head(found, dirs, is_project_file, kept, state, seen)
                return
            break
        kept.append(line)
        if state["python_at"] < 0 and os.path.basename(name) in PYTHON_H:
            state["python_at"] = len(kept) - 1
        if state["python_at"] >= 0 and depth == 0:
            state["upto"] = len(kept)
    if depth:  # stopped inside an #if block: the prelude ends before it
        if state["upto"] > block_start:
            state["upto"] = block_start if state["python_at"] < block_start else 0


def _resolve(name: str, quoted: bool, here: str, dirs: list[str]) -> str | None:
    for d in ([here] if quoted else []) + dirs:
        cand = os.path.join(d, name)
        if os.path.isfile(cand):
            return cand
    return None


def pch_key(args: list[str], text: str) -> str:
    h = hashlib.sha256()
    for part in [clang_version(), text] + args:
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()[:32]


def build_pch(args: list[str], text: str, folder: str) -> str | None:
    """Precompile a prelude into folder; None when that fails.

    A PCH from an earlier scan is reused while every file it read is unchanged (size and mtime).
    """
    out = _pch_path(args, text, folder)
    deps_file = out[:-4] + ".deps.json"
    if _ready(out):
        for used in (out, deps_file):  # in use: the result cache's prune() keeps it
            touch(used)
        return out
    os.makedirs(folder, exist_ok=True)
    header = out[:-4] + ".h"
    write_file(header, text.encode("utf-8", "surrogateescape"), durable=False)
    try:
        tu = cindex.Index.create().parse(header, args=_as_header(args), options=PCH_OPTIONS)
    except cindex.TranslationUnitLoadError:
        return None
    if any(d.severity >= cindex.Diagnostic.Error for d in tu.diagnostics):
        return None
    tested = condition_names(text)
    if tested:  # the file reads its copy of each #if again with the whole prelude defined
        defined = {c.spelling for c in tu.cursor.get_children() if c.kind == cindex.CursorKind.MACRO_DEFINITION}
        if tested & (defined | _unstable_names(text, args)):
            return None
    # Each file the prelude includes is included again by the source file itself: only safe when
    # that second inclusion is a no-op.
    lib = cindex.conf.lib
    includes = list(tu.get_includes())
    for inc in includes:
        if inc.depth == 1 and not lib.clang_isFileMultipleIncludeGuarded(tu, inc.include):
            if os.path.basename(inc.include.name) not in REINCLUDABLE:
                return None
    deps = [_stamp(p) for p in sorted({header} | {i.include.name for i in includes})]
    saved = out + f".{os.getpid()}.tmp"  # libclang writes only to a path: read back, then one writer
    try:
        tu.save(saved)
        with open(saved, "rb") as f:
            pch = f.read()
        write_file(out, pch, durable=False)
        write_file(deps_file, json.dumps(deps).encode(), durable=False)
    except (cindex.TranslationUnitSaveError, OSError):
        return None
    finally:
        try:
            os.unlink(saved)
        except OSError:
            pass
    return out


def _pch_path(args: list[str], text: str, folder: str) -> str:
    return os.path.join(folder, f"prelude-{pch_key(args, text)}.pch")


def _ready(pch: str) -> bool:
    """Is this PCH built, and every file it read unchanged?"""
    return os.path.isfile(pch) and _deps_unchanged(pch[:-4] + ".deps.json")


@functools.cache
def pch_files(pch: str) -> tuple[str, ...]:
    """The files a precompiled prelude read (get_includes() of a TU parsed on it leaves them out)."""
    try:
        with open(pch[:-4] + ".deps.json", "rb") as f:
            return tuple(p for p, _size, _mtime in json.loads(f.read())
                         if not os.path.basename(p).startswith("prelude-"))
    except (OSError, ValueError, TypeError):
        return ()


def _stamp(path: str) -> list:
    try:
        st = os.stat(path)
        return [path, st.st_size, st.st_mtime_ns]
    except OSError:
        return [path, -1, -1]


def _deps_unchanged(deps_file: str) -> bool:
    try:
        with open(deps_file, "rb") as f:
            deps = json.loads(f.read())
        return bool(deps) and all(_stamp(p) == [p, size, mtime] for p, size, mtime in deps)
    except (OSError, ValueError, TypeError):
        return False


def _cuts(text: str) -> list[str]:
    """The prefixes a prelude could also end at: after each include at or after Python.h that is
    outside #if blocks, shortest first (the whole prelude is the last)."""
    out, kept, depth, python = [], [], 0, False
    for line in text.split("\n")[:-1]:
        kept.append(line)
        raw = line.encode("utf-8", "surrogateescape")
        cond = _CONDITIONAL.match(raw)
        if cond:
            depth += {b"if": 1, b"ifdef": 1, b"ifndef": 1, b"endif": -1}.get(cond.group(1), 0)
            continue
        m = _INCLUDE.match(raw)
        if m:
            python = python or os.path.basename(m.group(2).decode("utf-8", "replace")) in PYTHON_H
            if python and depth == 0:
                out.append("\n".join(kept) + "\n")
    if not out or out[-1] != text:  # a prelude cut short before an #if block may end in a #define
        out.append(text)
    return out


def with_pch(specs: list[TUSpec], extra_args: list[str], is_project_file, folder: str,
             jobs: int = 1) -> list[TUSpec]:
    """The specs, each pointed at the longest precompiled prefix of its prelude that at least two
    files share (files that add a header of their own after Python.h share the Python.h part), or
    that an earlier scan left in the folder (re-scanning the one file that changed)."""
    cuts: dict[int, tuple[tuple[str, ...], list[str]]] = {}
    users: dict[tuple[tuple[str, ...], str], int] = {}
    for i, spec in enumerate(specs):
        text = prelude(spec, is_project_file)
        if text:
            args = tuple(a for a in clang_args(spec, extra_args) if not a.startswith("-working-directory"))
            if not all(os.path.isabs(d) for d in include_dirs(list(args))):
                args += (f"-working-directory={spec.directory}",)
            cuts[i] = (args, _cuts(text))
            for cut in cuts[i][1]:
                users[(args, cut)] = users.get((args, cut), 0) + 1
    groups: dict[tuple[tuple[str, ...], str], list[int]] = {}
    for i, (args, prefixes) in cuts.items():
        best = next((p for p in reversed(prefixes) if users[(args, p)] > 1), None)
        if best is None:  # alone with its prelude now (one file changed): a PCH an earlier scan built
            best = next((p for p in reversed(prefixes) if _ready(_pch_path(list(args), p, folder))), None)
        if best is not None:
            groups.setdefault((args, best), []).append(i)
    shared = list(groups)
    if not shared:
        return list(specs)
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(shared)))) as pool:
        built = dict(zip(shared, pool.map(lambda key: build_pch(list(key[0]), key[1], folder), shared)))
    out = list(specs)
    for key, pch in built.items():
        if pch:
            for i in groups[key]:
                out[i] = dataclasses.replace(specs[i], pch=pch)
    return out


def _as_header(args: list[str]) -> list[str]:
    out = list(args)
    for i, a in enumerate(out[:-1]):
        if a == "-x" and out[i + 1] in ("c", "c++"):
            out[i + 1] += "-header"
    return out


def project_includes(tu: cindex.TranslationUnit, main_path: str, is_project_file) -> list[str]:
    """The project files this parse read: what a cached result depends on."""
    names = {main_path}
    names.update(os.path.abspath(name) for name in included_names(tu) if is_project_file(name))
    return sorted(names)


def diagnostics(tu: cindex.TranslationUnit, spec: TUSpec) -> list[Diagnostic]:
    """Errors and fatal errors; a missing include names the directories that were searched."""
    out: list[Diagnostic] = []
    if getattr(tu, "flags_rejected", False):
        out.append(Diagnostic(os.path.abspath(spec.path), 1, 1, "error", FLAGS_REJECTED))
    searched = None
    for d in tu.diagnostics:
        sev = _SEVERITY.get(d.severity)
        if sev is None:
            continue
        loc = d.location
        msg = d.spelling
        if "file not found" in msg:
            if searched is None:
                dirs = include_dirs(spec.args)
                searched = ", ".join(dirs) if dirs else "(no -I directories)"
            msg = f"{msg} (searched: {searched})"
        path = loc.file.name if loc.file else spec.path
        out.append(Diagnostic(os.path.abspath(path), loc.line, loc.column, sev, msg))
    return out
