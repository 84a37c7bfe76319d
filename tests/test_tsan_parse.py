"""The ThreadSanitizer report parser on real reports (tests/data/tsan/README.md says how they were made)."""

from __future__ import annotations

from pathlib import Path

from extmigrate.runtime import tsan

DATA = Path(__file__).parent / "data" / "tsan"


def _reports(name: str) -> list[tsan.Report]:
    return tsan.parse((DATA / name).read_text(), name)


def test_every_kind_of_report_in_the_gcc_program():
    reps = _reports("gcc-racy.log")
    assert [r.kind for r in reps] == ["data-race"] * 4 + ["lock-order-inversion", "heap-use-after-free",
                                                         "thread-leak"]
    assert {r.pid for r in reps} == {5391}
    assert [r.variable for r in reps[:4]] == ["counter", "scratch", None, None]
    assert reps[2].location.startswith("heap block of size 16")
    assert reps[0].summary == "data race racy.c:19 in bump"


def test_race_stacks_current_then_previous():
    counter = _reports("gcc-racy.log")[0]
    first, previous = counter.main_stacks()
    assert first.title.startswith("Read of size 8") and previous.title.startswith("Previous write of size 8")
    assert first.frames == [tsan.Frame(0, "bump", "racy.c", 19, None, "racy", 0x1277)]
    # the thread-creation stacks are parsed but are not what the race is about
    assert len(counter.stacks) == 5


def test_interceptor_frames_come_before_the_callers_frame():
    scratch = _reports("gcc-racy.log")[1]
    frames = scratch.main_stacks()[0].frames
    assert [f.function for f in frames] == ["memcpy", "memcpy", "bump"]
    assert frames[0].module == "libtsan.so.2" and frames[0].line == 827
    assert (frames[2].path, frames[2].line) == ("racy.c", 20)


def test_frames_without_source_lines():
    stripped = _reports("gcc-racy.log")[3]
    frames = stripped.main_stacks()[0].frames
    assert frames[0] == tsan.Frame(0, None, None, None, None, "libnodebug.so", 0x1171)
    assert frames[1] == tsan.Frame(1, "helper_bump", None, None, None, "libnodebug.so", 0x11DB)
    assert frames[0].where() == "libnodebug.so+0x1171"
    assert stripped.summary == "data race (./libnodebug.so+0x1171)"


def test_lock_order_inversion_uses_both_acquisition_stacks():
    inv = _reports("gcc-racy.log")[4]
    a, b = inv.main_stacks()
    assert a.title.startswith("Mutex M2 acquired here while holding mutex M1")
    assert [f.where() for f in a.frames[1:]] == ["racy.c:28", "racy.c:52"]
    assert [f.where() for f in b.frames[1:]] == ["racy.c:53"]


def test_use_after_free_and_thread_leak():
    uaf, leak = _reports("gcc-racy.log")[5:]
    use, freed = uaf.main_stacks()
    assert use.frames[0].where() == "racy.c:37" and freed.frames[0].function == "free"
    (created,) = leak.main_stacks()
    assert created.title.startswith("Thread T4") and created.frames[1].where() == "racy.c:60"


def _project(modules=("libnodebug.so",)) -> tsan.Project:
    return tsan.Project(str(DATA), [str(DATA / "racy.c"), str(DATA / "nodebug.c")], list(modules))


def test_races_keep_the_project_sites_deduplicated():
    reps = _reports("gcc-racy.log")
    races = tsan.races(reps + reps, _project())  # every report twice: one race each, counted twice
    assert [(r.kind, tuple(s.key() for s in r.sites), r.count) for r in races] == [
        ("data-race", ("libnodebug.so:0x1171", "libnodebug.so:0x118d"), 2),
        ("data-race", ("racy.c:19", "racy.c:19"), 2),
        ("data-race", ("racy.c:20", "racy.c:20"), 2),
        ("data-race", ("racy.c:21", "racy.c:21"), 2),
        ("heap-use-after-free", ("racy.c:37", "racy.c:58"), 2),
        ("lock-order-inversion", ("racy.c:28", "racy.c:53"), 2),
        ("thread-leak", ("racy.c:60",), 2),
    ]


def test_frames_of_other_libraries_are_not_the_project():
    reps = _reports("gcc-racy.log")
    races = tsan.races(reps, _project(modules=()))
    # without the stripped library among the project's modules, its race is found by the caller's frame
    stripped = [r for r in races if r.sites[0].function == "bump" and r.sites[0].line == 22]
    assert len(stripped) == 1
    assert tsan.races(reps, tsan.Project(str(DATA), [str(DATA / "nodebug.c")], [])) == []


def test_stripped_extension_module_frames_and_interpreter_races():
    reps = _reports("preload-stripped.log")
    assert len(reps) == 5
    assert reps[1].variable == "<null>"
    so = "_lru.cpython-314t-x86_64-linux-gnu.so"
    assert reps[1].main_stacks()[0].frames[0] == tsan.Frame(0, None, None, None, None, so, 0x3F49)
    assert reps[1].main_stacks()[0].frames[1].path == "Include/internal/pycore_call.h"
    races = tsan.races(reps, tsan.Project(str(DATA), [], [so]))
    # the two races inside the interpreter (object stack, unicode_eq) are dropped
    assert [tuple(s.key() for s in r.sites) for r in races] == [
        (f"{so}:0x3f49", f"{so}:0x3f5c"),
        (f"{so}:0x409b",),
        (f"{so}:0x40bf", f"{so}:0x40d3"),
    ]
    assert races[2].count == 1


def test_parse_skips_noise_and_keeps_going():
    text = ("random output\nWARNING: ThreadSanitizer: data race (pid=1)\n"
            "  Write of size 4 at 0x1 by thread T1:\n    #0 f a.c:3:7 (a.out+0x10)\n"
            "  Previous read of size 4 at 0x1 by main thread:\n    #0 g a.c:9 (a.out+0x20)\n"
            "ThreadSanitizer:DEADLYSIGNAL\n")
    (rep,) = tsan.parse(text)
    assert rep.summary is None
    assert rep.main_stacks()[0].frames[0] == tsan.Frame(0, "f", "a.c", 3, 7, "a.out", 0x10)
    assert tsan.read_logs(str(DATA / "missing")) == []


def test_a_crash_report_is_parsed_with_its_stack():
    (crash,) = _reports("gcc-segv.log")
    assert crash.kind == "crash" and crash.pid == 30610
    (stack,) = crash.main_stacks()
    assert stack.title == ("SEGV on unknown address 0x000000000000 (pc 0x56179d27e1d3 bp 0x7fef9e73e110 "
                           "sp 0x7fef9e73e0f0 T30613)")
    assert [f.where() for f in stack.frames][:2] == ["segv.c:11", "../../../../src/libsanitizer/tsan/"
                                                     "tsan_interceptors_posix.cpp:991"]
    assert crash.summary == "SEGV segv.c:11 in reader"
    (race,) = tsan.races([crash], tsan.Project(str(DATA), [str(DATA / "segv.c")]))
    assert race.key == ("crash", ("segv.c:11",))
