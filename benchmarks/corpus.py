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
    generated: tuple = ()   # (file name, text): headers the build writes first (a configure step), as data
    half: str = "tuning"    # "tuning" (rules were tuned on it) or "held-out" (triaged before any rule change)


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

# The held-out half (issue 15): triaged before any rule was changed for it; the version of each is the
# last release before its free-threading work where it has any. No rule may be changed for one of its
# findings without an equivalent fixture written from elsewhere.
HELD_OUT = (
    Sdist("posix_ipc", "1.1.1", "e2456ba0cfb2ee5ba14121450e8d825b3c4a1461fca0761220aab66d4111cbb7",
          paths=("posix_ipc_module.c",), half="held-out",
          generated=(("probe_results.h", '#define POSIX_IPC_VERSION "1.1.1"\n#define SEM_GETVALUE_EXISTS\n'
                      "#define SEM_TIMEDWAIT_EXISTS\n#define MESSAGE_QUEUE_SUPPORT_EXISTS\n"
                      "#define QUEUE_MESSAGES_MAX_DEFAULT 10\n#define QUEUE_MESSAGE_SIZE_MAX_DEFAULT 8192\n"
                      "#define QUEUE_PRIORITY_MAX 32768\n#ifndef PAGE_SIZE\n#define PAGE_SIZE 4096\n#endif\n"),),
          note="demo*/ and prober/ are examples and configure probes; probe_results.h (prober.py's output "
               "on Linux) is written from `generated`"),
    Sdist("sysv_ipc", "1.1.0", "0f063cbd36ec232032e425769ebc871f195a7d183b9af32f9901589ea7129ac3",
          paths=("common.c", "memory.c", "mq.c", "semaphore.c", "sysv_ipc_module.c"), half="held-out",
          generated=(("probe_results.h", '#define SYSV_IPC_VERSION "1.1.0"\n#ifndef PAGE_SIZE\n'
                      "#define PAGE_SIZE 4096\n#endif\n#define SEMTIMEDOP_EXISTS\n"
                      "#define SEMAPHORE_VALUE_MAX 32767\n#define _SEM_SEMUN_UNDEFINED\n"
                      "#define KEY_MAX LONG_MAX\n#define KEY_MIN LONG_MIN\n"),),
          note="demos/ and prober/ are examples and configure probes; probe_results.h (prober.py's "
               "output on Linux) is written from `generated`"),
    Sdist("evdev", "1.9.2", "5d3278892ce1f92a74d6bf888cc8525d9f68af85dbe336c95d1c87fb8f423069",
          paths=("src/evdev",), half="held-out",
          note="src/evdev/ecodes.c, a table of input.h constants, is generated by setup.py (not shipped)"),
    Sdist("scandir", "1.10.0", "4d4631f6062e658e9007ab3149a9b914f3548cb38bfb021c64f39a025ce578ae",
          exclude=("test",), half="held-out"),
    Sdist("spidev", "3.6", "14dbc37594a4aaef85403ab617985d3c3ef464d62bc9b769ef552db53701115b",
          paths=("spidev_module.c",), half="held-out"),
    Sdist("pysqlite3", "0.5.4", "fbc69bfdc0cb43a5badd5403b126d5151371b5037e0397ba9802bb440c5b0021",
          paths=("src",), defines=('MODULE_NAME="pysqlite3.dbapi2"',), half="held-out",
          note="against the system libsqlite3 (Debian libsqlite3-dev), as setup.py's build_ext does"),
    Sdist("python-lzo", "1.15", "a57aaa00c5c3a0515dd9f7426ba2cf601767dc19dc023d8b99d4a13b0a327b49",
          paths=("lzomodule.c",), half="held-out", note="lzo headers from Debian liblzo2-dev"),
    Sdist("kerberos", "1.3.1", "cdd046142a4e0060f96a00eb13d82a5d9ebc0f2d7934393ed559bac773460a2c",
          paths=("src",), half="held-out", note="GSSAPI/krb5 headers from Debian libkrb5-dev"),
    Sdist("pyodbc", "5.2.0", "de8be39809c8ddeeee26a4b876a6463529cd487a60d1393eb2a93e9bcd44a8f5",
          paths=("src",), defines=("PYODBC_VERSION=5.2.0",), half="held-out",
          note="C++; sql.h from Debian unixodbc-dev"),
    Sdist("python-rapidjson", "1.21", "4d0dd9cf1fcb6f4bf79ee606e6e9be4cfa598f273b91338a6974b6a99309a1e6",
          paths=("rapidjson.cpp",), includes=("rapidjson/include",), defines=("PYTHON_RAPIDJSON_VERSION=1.21",),
          half="held-out", note="C++; rapidjson/ is the vendored RapidJSON library (no Python API)"),
    Sdist("PyGreSQL", "6.1.0", "d5ae8e68bf33c0ba0566a6d708ff68296fddda7d2f7dd6cce7bfd5cc6fd5b2f8",
          paths=("ext",), includes=("/usr/include/postgresql",), tus=("ext/pgmodule.c",), half="held-out",
          note="libpq-fe.h from Debian libpq-dev (what `pg_config --includedir` gives); a unity build: "
               "ext/pgmodule.c #includes the other .c files"),
    Sdist("pylzma", "0.5.0", "b874172afbf37770e643bf2dc9d9b6b03eb95d8f8162e157145b3fe9e1b68a1c",
          paths=tuple(f"src/pylzma/pylzma{m}.c" for m in ("", "_aes", "_compress", "_compressfile", "_decompress",
                                                            "_decompressobj", "_streams", "_decompress_compat",
                                                            "_decompressobj_compat")),
          includes=("src/sdk/C",), defines=("_7ZIP_ST=1", "PY_SSIZE_T_CLEAN=1", "WITH_COMPAT=1",
                                             'PYLZMA_VERSION="0.5.0"'),
          half="held-out", note="the files setup.py compiles; src/sdk is the 7-Zip LZMA SDK (no Python API); "
                                "_7ZIP_ST: setup.py's choice off Windows; pylzma_compressobj.c is Python 2 code "
                                "no build compiles"),
)

ALL = PINNED + HELD_OUT


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
    if sd.name != "pycurl" and not sd.generated:
        return ()
    out = cache / "generated" / f"{sd.name}-{sd.version}"
    out.mkdir(parents=True, exist_ok=True)
    for name, text in sd.generated:
        (out / name).write_text(text)
    if sd.name != "pycurl":
        return (str(out),)
    names = sorted(p.stem for p in (root / "doc" / "docstrings").glob("*.rst"))
    (out / "docstrings.h").write_text("".join(f"extern const char {n}_doc[];\n" for n in names))
    return (str(out),)


def fetch_all(cache: Path = CACHE) -> dict[str, Path]:
    return {sd.name: unpack(sd, cache) for sd in ALL}


if __name__ == "__main__":
    for name, root in fetch_all().items():
        print(f"{name}\t{root}")
    sys.exit(0)
