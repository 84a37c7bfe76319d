"""The result cache: a file's findings, facts and diagnostics are kept until something they depend on changes.

An entry is found by a key over the file's content, its flags, the rule selection, the scanned roots,
the libclang version and the tool itself (a hash of the installed extmigrate package, so a changed rule
never serves stale results).  The entry then lists the project headers the file included with their
content hashes, and the headers it could not find: a changed header, or a missing one that appeared,
makes it a miss.  Entries are plain JSON (a cache folder from elsewhere can never run code), written
atomically; an unreadable or corrupt entry is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict
from functools import cache

from extmigrate.fileio import touch, write_file
from extmigrate.flags import TUSpec, include_dirs
from extmigrate.model import Diagnostic, Finding

FORMAT = 3
VERSION_HEADERS = ("patchlevel.h", "pyconfig.h", os.path.join("numpy", "_numpyconfig.h"))
_MISSING = re.compile(r"^'([^']+)' file not found")


def default_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "extmigrate")


@cache
def tool_fingerprint() -> str:
    """A hash of every file of the extmigrate package (code, rule data, templates)."""
    root = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".py", ".toml", ".json", ".j2")):
                path = os.path.join(dirpath, name)
                h.update(os.path.relpath(path, root).encode() + b"\0")
                with open(path, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


@cache
def libclang_stamp() -> str:
    """Which libclang parses: name, size and mtime of its shared library (what cindex would load,
    environment overrides included). Loading the library to ask its version costs more than a warm scan."""
    import importlib.util

    env = [os.environ.get(v, "") for v in ("LIBCLANG_LIBRARY_FILE", "LIBCLANG_LIBRARY_PATH")]
    spec = importlib.util.find_spec("clang")
    native = os.path.join(os.path.dirname(os.path.realpath(spec.origin)), "native") if spec and spec.origin else ""
    folders = [d for d in (env[1], native) if d]
    candidates = [env[0]] if env[0] else [os.path.join(d, n) for d in folders
                                          for n in ("libclang.so", "libclang.dylib", "libclang.dll")]
    parts = list(env)
    for path in candidates:
        try:
            st = os.stat(path)
        except OSError:
            continue
        parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    if len(parts) == len(env):  # a libclang found some other way: ask it
        from extmigrate.parse import clang_version
        parts.append(clang_version())
    return ";".join(parts)


def file_hash(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def encode(obj):
    """JSON for the values rules produce, with tuples, sets and non-string keys tagged to survive."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v) for v in obj]}
    if isinstance(obj, (set, frozenset)):
        return {"__set__": [encode(v) for v in sorted(obj, key=repr)], "frozen": isinstance(obj, frozenset)}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: encode(v) for k, v in obj.items()}
        return {"__items__": [[encode(k), encode(v)] for k, v in obj.items()]}
    raise TypeError(f"cannot cache a {type(obj).__name__}")


def _untag(d: dict):
    """The value encode() tagged: json.loads calls this on each object as it builds it."""
    if "__tuple__" in d:
        return tuple(d["__tuple__"])
    if "__set__" in d:
        return frozenset(d["__set__"]) if d.get("frozen") else set(d["__set__"])
    if "__items__" in d:
        return {k: v for k, v in d["__items__"]}
    return d


def loads(data: bytes):
    """The JSON encode() made, read back (tagged values untagged while the JSON is parsed: a cached
    Pillow TU holds ~80,000 values, and a second walk over them cost ~1 ms each)."""
    return json.loads(data, object_hook=_untag)


def _shared_facts(facts: dict) -> dict:
    """Rules of one family return one facts object (FT101-FT108, FT301-FT303): store it once."""
    first: dict[int, str] = {}
    out = {}
    for code, value in facts.items():
        if id(value) in first:
            out[code] = {"same_as": first[id(value)]}
        else:
            first[id(value)] = code
            out[code] = {"value": value}
    return out


def result_to_json(result) -> dict:
    return encode({"path": result.path, "findings": [f.to_dict() for f in result.findings],
                   "facts": _shared_facts(result.facts),
                   "diagnostics": [asdict(d) for d in result.diagnostics],
                   "files": result.files, "includes": result.includes,
                   "unanalysed": result.unanalysed, "broken": result.broken,
                   "extra_facts": result.extra_facts, "config_regions": result.config_regions})


def result_from_json(doc: dict):
    from extmigrate.engine import TUResult

    facts = {code: v["value"] for code, v in doc["facts"].items() if "value" in v}
    facts.update({code: facts[v["same_as"]] for code, v in doc["facts"].items() if "same_as" in v})
    return TUResult(path=doc["path"], findings=[Finding.from_dict(f) for f in doc["findings"]],
                    facts=facts, diagnostics=[Diagnostic(**d) for d in doc["diagnostics"]],
                    files=doc["files"], includes=doc["includes"], unanalysed=doc.get("unanalysed", []),
                    broken=doc.get("broken", []), extra_facts=doc.get("extra_facts", []),
                    config_regions=doc.get("config_regions", []))


class ResultCache:
    """One scan's view of the cache folder."""

    def __init__(self, folder: str, salt: list[str]):
        self.folder = os.path.join(folder, f"results-v{FORMAT}")
        h = hashlib.sha256()
        for part in [tool_fingerprint(), libclang_stamp()] + salt:
            h.update(part.encode("utf-8", "surrogateescape") + b"\0")
        self.salt = h.hexdigest()
        self._hashes: dict[str, str | None] = {}
        self._stamps: dict[tuple[str, ...], str] = {}
        self._salt_args = tuple(a for a in salt if a.startswith("-"))  # -I/-D given to the whole scan
        self.hits = self.misses = 0
        self._file_keys: list[str] = []  # of the last scan_key()

    def _hash(self, path: str) -> str | None:
        if path not in self._hashes:
            self._hashes[path] = file_hash(path)
        return self._hashes[path]

    def key(self, spec: TUSpec) -> str | None:
        content = self._hash(spec.path)
        if content is None:
            return None
        h = hashlib.sha256(self.salt.encode())
        for part in [spec.path, spec.directory, content, self._versions(tuple(spec.args) + self._salt_args)] + list(spec.args):
            h.update(part.encode("utf-8", "surrogateescape") + b"\0")
        return h.hexdigest()

    def _versions(self, args: tuple[str, ...]) -> str:
        """Size and mtime of the version headers in the include dirs: an upgraded Python or numpy
        installed over the same path changes the key."""
        stamp = self._stamps.get(args)
        if stamp is None:
            parts = []
            for d in include_dirs(list(args)):
                for name in VERSION_HEADERS:
                    try:
                        st = os.stat(os.path.join(d, name))
                    except OSError:
                        continue
                    parts.append(f"{d}/{name}:{st.st_size}:{st.st_mtime_ns}")
            stamp = self._stamps[args] = ";".join(parts)
        return stamp

    def _entry(self, key: str) -> str:
        return os.path.join(self.folder, key[:2], key + ".json")

    def get(self, spec: TUSpec, search_dirs: list[str]):
        """The cached TUResult of this file, or None."""
        key = self.key(spec)
        result = None
        if key is not None:
            try:
                with open(self._entry(key), "rb") as f:
                    doc = loads(f.read())
                if doc["format"] == FORMAT and self._fresh(doc, search_dirs):
                    result = result_from_json(doc["result"])
                    touch(self._entry(key))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                result = None  # absent or corrupt: analyse again
        if result is None:
            self.misses += 1
        else:
            self.hits += 1
        return result

    def _fresh(self, doc: dict, search_dirs: list[str]) -> bool:
        if any(self._hash(p) != h for p, h in doc["deps"].items()):
            return False
        for name, here in doc["missing"]:
            if any(os.path.exists(os.path.join(d, name)) for d in [here] + search_dirs):
                return False
        return True

    def put(self, spec: TUSpec, result) -> None:
        """Store a finished analysis (never one that failed, timed out or does not survive JSON)."""
        if result.error:
            return
        key = self.key(spec)
        if key is None:
            return
        try:
            body = result_to_json(result)
            if result_from_json(loads(json.dumps(body))) != result:
                return  # a cached copy would not be the same result
        except (TypeError, ValueError):
            return  # an object JSON cannot hold
        deps = {p: self._hash(p) for p in result.includes if p != spec.path}
        if any(h is None for h in deps.values()):
            return
        self._write(key, {"format": FORMAT, "deps": deps, "missing": _missing(result), "result": body})

    # -- whole scans ------------------------------------------------------------------------------
    def scan_key(self, specs: list[TUSpec], other_files: list[str]) -> str | None:
        """A key over every file of a scan (each one's own key) and the other files its rules read
        (build files): same files, flags, settings and build files, same outcome."""
        h = hashlib.sha256(b"scan\0" + self.salt.encode())
        self._file_keys = []
        for spec in sorted(specs, key=lambda s: s.path):
            key = self.key(spec)
            if key is None:
                return None
            self._file_keys.append(key)
            h.update(key.encode() + b"\0")
        for path in sorted(other_files):
            h.update(f"{path}\0{self._hash(path)}\0".encode("utf-8", "surrogateescape"))
        return h.hexdigest()

    def get_scan(self, key: str, search_dirs: list[str]) -> dict | None:
        """The outcome of the last scan of these very files (scan.py), if no header it read changed."""
        try:
            with open(self._entry("scan-" + key), "rb") as f:
                doc = loads(f.read())
            if doc["format"] != FORMAT or not self._fresh(doc, search_dirs):
                return None
            done = doc["scan"]
            for entry in [self._entry("scan-" + key)] + [self._entry(k) for k in self._file_keys]:
                touch(entry)  # the files' own entries are used again when one file changes
            done["findings"] = [Finding.from_dict(f) for f in done["findings"]]
            done["diagnostics"] = [Diagnostic(**d) for d in done["diagnostics"]]
            return done
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put_scan(self, key: str, done: dict) -> None:
        results = done.pop("results")
        deps: dict[str, str | None] = {}
        missing: list[list[str]] = []
        for r in results:
            deps.update((p, self._hash(p)) for p in r.includes + [r.path])
            missing += _missing(r)
        if any(h is None for h in deps.values()):
            return
        body = dict(done, findings=[f.to_dict() for f in done["findings"]],
                    diagnostics=[asdict(d) for d in done["diagnostics"]])
        try:
            again = loads(json.dumps(encode(body)))
        except (TypeError, ValueError):
            return  # an object JSON cannot hold
        if [Finding.from_dict(f) for f in again["findings"]] != done["findings"]:
            return  # a cached copy would not be the same outcome
        self._write("scan-" + key, {"format": FORMAT, "deps": deps, "missing": missing, "scan": encode(body)})

    def _write(self, key: str, doc: dict) -> None:
        try:
            path = self._entry(key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_file(path, json.dumps(doc, separators=(",", ":")).encode(), durable=False)
        except (OSError, ValueError, TypeError):
            pass  # a read-only or full cache folder only costs speed


MAX_AGE_DAYS = 30
_PRUNED = ".pruned"


def prune(folder: str, max_age_days: float = MAX_AGE_DAYS, now: float | None = None) -> int:
    """Remove result entries and precompiled preludes nobody used for max_age_days (at most once a
    day per cache folder: the marker file's mtime says when it last ran). Returns how many files
    went. A cache that cannot be read or written is left as it is."""
    now = time.time() if now is None else now
    marker = os.path.join(folder, _PRUNED)
    try:
        if now - os.stat(marker).st_mtime < 86400:
            return 0
    except OSError:
        pass
    removed = 0
    limit = now - max_age_days * 86400
    for sub in (f"results-v{FORMAT}", "pch"):
        for dirpath, _dirs, files in os.walk(os.path.join(folder, sub)):
            for name in files:
                path = os.path.join(dirpath, name)
                # a prelude's text is never touched (its mtime is part of the PCH's dependencies):
                # it lives as long as its PCH
                used = path[:-2] + ".pch" if sub == "pch" and name.endswith(".h") else path
                try:
                    if max(os.stat(path).st_mtime, _mtime(used)) < limit:
                        os.remove(path)
                        removed += 1
                except OSError:
                    continue
    try:
        os.makedirs(folder, exist_ok=True)
        write_file(marker, b"", durable=False)
        os.utime(marker, (now, now))
    except OSError:
        pass
    return removed


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _missing(result) -> list[list[str]]:
    """Headers the parse could not find, with the folder of the file that asked for them."""
    out = []
    for d in result.diagnostics:
        m = _MISSING.match(d.message)
        if m:
            out.append([m.group(1), os.path.dirname(d.path)])
    return out
