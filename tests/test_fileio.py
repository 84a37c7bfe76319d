"""The one writer (fileio.write_file): devices and FIFOs in place, symlinks through, hard links in
place, regular files replaced atomically with their mode and owner, nothing outside the project."""

from __future__ import annotations

import os
import socket
import stat
import threading

import pytest

from extmigrate.fileio import StaleFile, WriteRefused, refusal, write_file

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def read_fifo_in_thread(path: str) -> tuple[threading.Thread, list[bytes]]:
    """A thread that reads the FIFO to its end; the list gets what it read."""
    got: list[bytes] = []

    def reader():
        with open(path, "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    return t, got


def test_regular_file_replaced_atomically_keeping_mode(tmp_path):
    path = tmp_path / "f.c"
    path.write_bytes(b"old")
    path.chmod(0o751)
    inode = path.stat().st_ino
    assert write_file(str(path), b"new") == "replaced"
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert [p.name for p in tmp_path.iterdir()] == ["f.c"]  # no temp file left behind


def test_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        assert write_file(str(tmp_path / "n.h"), b"x") == "created"
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "n.h").stat().st_mode) == 0o640


def test_owner_and_group_are_kept(tmp_path):
    path = tmp_path / "owned.c"
    path.write_bytes(b"old")
    if not ROOT:
        write_file(str(path), b"new")
        assert path.read_bytes() == b"new"
        pytest.skip("not root: cannot give a file to another user to check it is kept")
    os.chown(path, 4321, 8765)
    path.chmod(0o4750)  # set-uid: chown after chmod would clear it
    write_file(str(path), b"new")
    st = path.stat()
    assert (st.st_uid, st.st_gid) == (4321, 8765)
    assert stat.S_IMODE(st.st_mode) == 0o4750
    assert path.read_bytes() == b"new"


def test_fifo_is_written_in_place(tmp_path):
    fifo = str(tmp_path / "report.fifo")
    os.mkfifo(fifo)
    t, got = read_fifo_in_thread(fifo)
    assert write_file(fifo, b"through the pipe\n") == "in place"
    t.join(10)
    assert got == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["report.fifo"]


def test_dev_null_stays_a_device():
    assert write_file(os.devnull, b"discarded") == "in place"
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.skipif(not os.path.isdir("/dev/fd"), reason="no /dev/fd on this system")
def test_dev_fd_writes_the_open_descriptor(tmp_path):
    r, w = os.pipe()
    try:
        assert write_file(f"/dev/fd/{w}", b"to fd") == "in place"
        assert os.read(r, 100) == b"to fd"
    finally:
        os.close(r)
        os.close(w)
    # a descriptor on a file that has no name any more is still written, never replaced
    path = tmp_path / "gone.txt"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        os.unlink(path)
        write_file(f"/dev/fd/{fd}", b"anonymous")
        assert os.pread(fd, 100, 0) == b"anonymous"
    finally:
        os.close(fd)
    assert os.listdir(tmp_path) == []


def test_socket_is_refused_never_replaced(tmp_path):
    path = str(tmp_path / "s.sock")
    srv = socket.socket(socket.AF_UNIX)
    try:
        srv.bind(path)
        with pytest.raises(OSError):
            write_file(path, b"x")
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    finally:
        srv.close()


def test_dash_is_stdout(capfdbinary):
    assert write_file("-", b"report\xff\n") == "stdout"
    assert capfdbinary.readouterr().out == b"report\xff\n"


def test_symlink_inside_the_project_is_written_through(tmp_path):
    (tmp_path / "src").mkdir()
    target = tmp_path / "src" / "real.c"
    target.write_bytes(b"old")
    target.chmod(0o600)
    link = tmp_path / "link.c"
    link.symlink_to("src/real.c")
    write_file(str(link), b"new", expect=b"old", inside=[str(tmp_path)])
    assert link.is_symlink() and os.readlink(link) == "src/real.c"
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path / "src")) == ["real.c"]


def test_symlink_leaving_the_project_is_refused_unless_the_target_is_given(tmp_path):
    proj, elsewhere = tmp_path / "proj", tmp_path / "elsewhere"
    proj.mkdir()
    elsewhere.mkdir()
    target = elsewhere / "t.c"
    target.write_bytes(b"old")
    link = proj / "t.c"
    link.symlink_to(target)
    with pytest.raises(WriteRefused) as e:
        write_file(str(link), b"new", inside=[str(proj)])
    assert str(e.value) == (f"{link}: links to {target}, outside the project "
                            f"(pass {target} itself to change it); not changed")
    assert refusal(str(link), [str(proj)]).startswith(f"links to {target}, outside the project")
    assert target.read_bytes() == b"old" and link.is_symlink()
    write_file(str(link), b"new", inside=[str(proj), str(target)])  # the user named the target
    assert target.read_bytes() == b"new" and link.is_symlink()


def test_folder_symlink_leaving_the_project_is_refused(tmp_path):
    proj, elsewhere = tmp_path / "proj", tmp_path / "elsewhere"
    proj.mkdir()
    elsewhere.mkdir()
    (proj / "vendor").symlink_to(elsewhere)
    with pytest.raises(WriteRefused, match="outside the project"):
        write_file(str(proj / "vendor" / "new.h"), b"x", inside=[str(proj)])
    assert os.listdir(elsewhere) == []
    with pytest.raises(WriteRefused, match=r"outside the project; not changed$"):
        write_file(str(elsewhere / "plain.h"), b"x", inside=[str(proj)])


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "l.h"
    link.symlink_to("made.h")
    assert write_file(str(link), b"x", expect=None, inside=[str(tmp_path)]) == "created"
    assert link.is_symlink() and (tmp_path / "made.h").read_bytes() == b"x"


def test_hard_links_are_written_in_place_so_every_name_sees_it(tmp_path):
    a, b = tmp_path / "a.c", tmp_path / "b.c"
    a.write_bytes(b"old text")
    os.link(a, b)
    inode = a.stat().st_ino
    assert write_file(str(b), b"new", expect=b"old text") == "in place"
    assert a.read_bytes() == b.read_bytes() == b"new"
    assert a.stat().st_ino == b.stat().st_ino == inode and a.stat().st_nlink == 2
    with pytest.raises(StaleFile):
        write_file(str(a), b"newer", expect=b"old text")
    assert a.read_bytes() == b"new"


def test_stale_files_are_refused(tmp_path):
    path = tmp_path / "g.h"
    write_file(str(path), b"fresh", expect=None)
    with pytest.raises(StaleFile):
        write_file(str(path), b"again", expect=None)
    with pytest.raises(StaleFile):
        write_file(str(path), b"again", expect=b"something else")
    assert path.read_bytes() == b"fresh"
    fifo = str(tmp_path / "p.c")
    os.mkfifo(fifo)
    with pytest.raises(WriteRefused, match="not a regular file"):  # never opened: it would block
        write_file(fifo, b"x", expect=b"")


def test_refusal_names_read_only_files_and_folders(tmp_path):
    path = tmp_path / "ro.c"
    path.write_bytes(b"x")
    path.chmod(0o444)
    assert refusal(str(path)) == "read-only file; not changed"
    assert refusal(str(tmp_path / "new.c")) is None
    assert refusal(os.devnull) is None
