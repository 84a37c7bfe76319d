"""Pinned set of real C-extension sdists, downloaded to a cache outside git.

Shared by scripts/accuracy.py and the benchmarks. Nothing from an sdist is ever
executed: the file is fetched by its PyPI URL, checked against the pinned
sha256 and unpacked as data. (`pip download --no-binary :all:` would run each
sdist's build backend to prepare metadata, i.e. execute its setup.py.)

    python benchmarks/corpus.py            # fetch + unpack all, print the roots
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("EXTMIGRATE_CORPUS", Path.home() / ".cache" / "extmigrate-corpus"))


@dataclass(frozen=True)
class Sdist:
    name: str       # PyPI project name
    version: str
    sha256: str     # of the sdist file, as PyPI lists it
    paths: tuple = (".",)   # what to scan, relative to the unpacked root: the extension's own C/C++
    exclude: tuple = ()     # --exclude globs: vendored foreign code inside `paths`
    includes: tuple = ()    # -I dirs (relative to the root) the build adds
    defines: tuple = ()     # -D macros the build adds
    note: str = ""          # why paths/exclude are what they are
    tus: tuple = ()         # the files the build compiles, when not every C/C++ source under `paths`


PINNED = (
    Sdist("ciso8601", "2.4.1", "76452eacea17b948645c66ca92b7d282e909dc04e9b158340adced09b3f77ee3",
          defines=("CISO8601_VERSION=\"2.4.1\"", "CISO8601_CACHING_ENABLED=1")),
    Sdist("immutables", "0.21", "b55ffaf0449790242feb4c56ab799ea7af92801a0a43f9e2f4f8af2ab24dfc4a",
          paths=("immutables",), exclude=("pythoncapi_compat.h",),
          note="pythoncapi_compat.h is vendored from python/pythoncapi-compat"),
    Sdist("pyrsistent", "0.20.0", "4c48f78f62ab596c679086084d0dd13254ae4f3d6c72a83ffdf5ebdef8f265a4"),
    Sdist("yappi", "1.7.6", "c94281936af77c00c6ac2306a0e7f85a67e354d717120df85fcc5dfb9243d4dd",
          paths=("yappi",)),
    Sdist("mysqlclient", "2.3.1", "c07e1b83b530fd6c5888259f36afad1980d21fcb33ba97384650dd23c8f73ea8",
          paths=("src",), includes=("/usr/include/mariadb",),
          note="mysql.h from Debian's libmariadb-dev (what `pkg-config mysqlclient` gives)"),
    Sdist("pycurl", "7.49.0", "d4327da9dea72768f942f831bbaa5a64adca4d7c89f3141da7a833d3c600ab90",
          paths=("src",), defines=('PYCURL_VERSION="7.49.0"', "HAVE_CURL_SSL=1", "HAVE_CURL_OPENSSL=1"),
          note="tests/fake-curl (test stubs) not scanned; defines: setup.py's with Debian's libcurl "
               "(OpenSSL); src/docstrings.h, which setup.py writes, is rebuilt by generated_includes()"),
    Sdist("brotli", "1.2.1", "02b2f7b5a83485efe448a44ddf7983def05c3bb1dcf917d4f7154070260e13de",
          paths=("python",), includes=("c/include",),
          note="c/ is the brotli codec library (no Python API), not the extension"),
    Sdist("pyahocorasick", "2.3.1", "9d0f6bb522237ed7f111ed59c9e8baea7d1e75813587b6773babd43bda35db9f",
          paths=("src",), exclude=("msinttypes",), tus=("src/pyahocorasick.c",),
          note="src/msinttypes is vendored (msinttypes, Windows-only stdint.h); a unity build: "
               "src/pyahocorasick.c #includes the other .c files"),
    Sdist("python-ldap", "3.4.8", "18dc7460470c6ff64ed5c04ee21c56dbfee7ab433a53213ba91e407eea44c34c",
          paths=("Modules",), defines=("HAVE_SASL", "HAVE_TLS", "LDAPMODULE_VERSION=3.4.8",
                                       "LDAPMODULE_AUTHOR=x", "LDAPMODULE_LICENSE=x")),
    Sdist("google-crc32c", "1.9.0", "7b8c84c3d159ab6817fe3f74e6e6cef099c3f95dcec3abc0d8afb1404642efbe",
          paths=("src",)),
    Sdist("netifaces", "0.11.0", "043a79146eb2907edf439899f262b3dfe41717d34124298ed281139a8b93ca32",
          defines=("NETIFACES_VERSION=0.11.0", "HAVE_GETIFADDRS=1", "HAVE_GETNAMEINFO=1", "HAVE_PF_NETLINK=1",
                   "HAVE_SOCKADDR_IN6=1", "HAVE_SOCKADDR_LL=1", "HAVE_NETPACKET_PACKET_H=1"),
          note="defines: what its setup.py's configure step finds on Linux"),
    Sdist("crcmod", "1.7", "dc7051a0db5f2bd48665a990d3ec1cc305a466a77358ca4492826f41f283601e",
          paths=("python3/src",), note="python2/ is the same extension for Python 2"),
)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sdist_url(sd: Sdist) -> tuple[str, str]:
    """(filename, url) of the file whose sha256 is pinned, from PyPI's simple index (PEP 691)."""
    req = urllib.request.Request(f"https://pypi.org/simple/{sd.name}/",
                                 headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        meta = json.load(r)
    for f in meta["files"]:
        if f.get("hashes", {}).get("sha256") == sd.sha256:
            return f["filename"], f["url"]
    raise RuntimeError(f"{sd.name}=={sd.version}: no file with the pinned sha256 on PyPI")


def download(sd: Sdist, cache: Path = CACHE) -> Path:
    """The sdist archive in cache/sdists, downloaded and hash-checked once."""
    dest_dir = cache / "sdists"
    dest_dir.mkdir(parents=True, exist_ok=True)
    for p in dest_dir.iterdir():
        if p.name.lower().replace("_", "-").startswith(f"{sd.name}-{sd.version}.".lower()) \
                and _sha256(p) == sd.sha256:
            return p
    filename, url = _sdist_url(sd)
    tmp = dest_dir / (filename + ".part")
    with urllib.request.urlopen(url, timeout=120) as r, open(tmp, "wb") as f:
        shutil.copyfileobj(r, f)
    if _sha256(tmp) != sd.sha256:
        tmp.unlink()
        raise RuntimeError(f"{filename}: sha256 mismatch")
    return tmp.replace(dest_dir / filename)


def _safe_members(names, root: Path):
    for n in names:
        target = (root / n).resolve()
        if root.resolve() not in target.parents and target != root.resolve():
            raise RuntimeError(f"unsafe path in archive: {n}")


def unpack(sd: Sdist, cache: Path = CACHE) -> Path:
    """The unpacked source root (cache/src/<name>-<version>/<top dir>), read-only by convention."""
    archive = download(sd, cache)
    out = cache / "src" / f"{sd.name}-{sd.version}"
    if not out.is_dir():
        tmp = out.with_name(out.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                _safe_members(z.namelist(), tmp)
                z.extractall(tmp)
        else:
            with tarfile.open(archive) as t:
                members = [m for m in t.getmembers() if m.isfile() or m.isdir()]
                _safe_members([m.name for m in members], tmp)
                t.extractall(tmp, members=members)
        tmp.rename(out)
    tops = [p for p in out.iterdir() if p.is_dir()]
    return tops[0] if len(tops) == 1 else out


def generated_includes(sd: Sdist, root: Path, cache: Path = CACHE) -> tuple[str, ...]:
    """-I dirs holding the headers a package's setup.py writes before compiling, rebuilt here from the
    same data files as text (nothing of the package runs)."""
    if sd.name != "pycurl":
        return ()
    out = cache / "generated" / f"{sd.name}-{sd.version}"
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(p.stem for p in (root / "doc" / "docstrings").glob("*.rst"))
    (out / "docstrings.h").write_text("".join(f"extern const char {n}_doc[];\n" for n in names))
    return (str(out),)


def fetch_all(cache: Path = CACHE) -> dict[str, Path]:
    return {sd.name: unpack(sd, cache) for sd in PINNED}


if __name__ == "__main__":
    for name, root in fetch_all().items():
        print(f"{name}\t{root}")
    sys.exit(0)
