"""Property: for any text and any non-overlapping edits, the unified diff applies with `git apply`
and yields exactly the edited text (CRLF, missing final newline and form feeds included)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extmigrate.fix.base import Edit
from extmigrate.fix.patch import FilePatch, apply_edits, unified_diff

LINE = st.text(alphabet="ab {};\t\x0c", max_size=12)


@st.composite
def file_and_edits(draw):
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    lines = draw(st.lists(LINE, min_size=1, max_size=12))
    text = nl.join(lines) + draw(st.sampled_from([nl, ""]))
    data = text.encode()
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), min_size=0, max_size=6)))
    edits = []
    for i in range(0, len(cuts) - 1, 2):
        edits.append(Edit("f.c", cuts[i], cuts[i + 1], draw(st.text(alphabet="xy\n", max_size=8))))
    return data, edits


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file_and_edits())
def test_diff_round_trips_through_git_apply(case):
    data, edits = case
    def splits_crlf(offset: int) -> bool:  # real edits never cut a CRLF pair in two
        return 0 < offset and data[offset - 1:offset + 1] == b"\r\n"

    edits = [e for e in edits if not splits_crlf(e.start) and not splits_crlf(e.end)]
    new = apply_edits(data, edits)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.c"
        path.write_bytes(data)
        diff = unified_diff(FilePatch(str(path), data, new), tmp)
        if new == data:
            assert "@@" not in diff
            return
        r = subprocess.run(["git", "apply", "-"], input=diff.encode(), cwd=tmp,
                           capture_output=True)
        assert r.returncode == 0, (r.stderr, diff)
        assert path.read_bytes() == new
