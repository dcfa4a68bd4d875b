"""TreeMeter (sandbox/limits.py): the writable trees' disk usage kept from inotify events agrees
with a full walk after every kind of change, and falls back to walking when events are lost."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_agentbench.sandbox.limits import MiB, TreeMeter


def walked(roots: list[Path]) -> int:
    """The reference: every inode below the roots once, links not followed, roots excluded."""
    seen: dict[tuple[int, int], int] = {}
    for root in roots:
        for directory, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                st = os.lstat(os.path.join(directory, name))
                seen[(st.st_dev, st.st_ino)] = st.st_blocks * 512
    return sum(seen.values())


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / "wt", tmp_path / "home"]
    for path in paths:
        path.mkdir()
    (paths[0] / "src").mkdir()
    for index in range(30):
        (paths[0] / "src" / f"m{index}.py").write_text("x = 1\n" * index * 100)
    return paths


def test_the_meter_watches(roots):
    meter = TreeMeter(roots)
    assert meter.watching, "inotify is unavailable here: the meter walks instead"
    assert meter.total == walked(roots)


def test_every_kind_of_change_is_counted_as_a_walk_counts_it(roots):
    meter = TreeMeter(roots)
    wt, home = roots
    rng = random.Random(1)

    def check() -> None:
        assert meter.usage(settled=True)[0] == walked(roots)

    (wt / "new").write_bytes(os.urandom(300_000))
    check()
    with (wt / "src" / "m3.py").open("ab") as handle:  # growth of a file that was there
        handle.write(os.urandom(100_000))
    check()
    os.truncate(wt / "src" / "m3.py", 0)
    check()
    (wt / "a" / "b" / "c").mkdir(parents=True)  # a new directory and what is made in it at once
    (wt / "a" / "b" / "c" / "deep").write_bytes(os.urandom(200_000))
    check()
    (wt / "a" / "b" / "c" / "later").write_bytes(os.urandom(50_000))  # inside it, after its watch
    check()
    os.rename(wt / "a", wt / "moved")  # a directory moved: its watches follow it
    (wt / "moved" / "b" / "c" / "after-move").write_bytes(os.urandom(70_000))
    check()
    os.link(wt / "new", wt / "hardlink")  # one inode, two names: counted once
    check()
    with (wt / "hardlink").open("ab") as handle:  # grown through the other name
        handle.write(os.urandom(400_000))
    check()
    os.unlink(wt / "new")
    check()
    (wt / "link").symlink_to("/usr")  # not followed
    check()
    shutil.rmtree(wt / "moved")
    check()
    shutil.move(str(wt / "src"), str(home / "src"))  # out of one tree into the other
    check()
    (wt / "src").mkdir()  # a directory made again at a name that was watched
    (wt / "src" / "again").write_bytes(os.urandom(10_000))
    check()
    try:  # an extended attribute may take a block of its own
        os.setxattr(wt / "src" / "again", "user.note", b"x" * 3000)
    except OSError:
        pass
    check()
    for _ in range(200):  # and a random mix
        directory = rng.choice([wt, home, wt / "src"])
        target = directory / f"r{rng.randrange(20)}"
        action = rng.randrange(4)
        if action == 0:
            target.write_bytes(os.urandom(rng.randrange(0, 50_000)))
        elif action == 1 and target.exists():
            target.unlink()
        elif action == 2 and target.exists():
            target.rename(rng.choice([wt, home]) / f"r{rng.randrange(20)}")
        elif action == 3:
            (directory / f"d{rng.randrange(5)}").mkdir(exist_ok=True)
        if rng.random() < 0.2:
            check()
    check()


def test_a_file_written_through_a_memory_mapping_is_seen_while_it_is_mapped(roots):
    """No event comes while a mapping is written; the file was opened, so the meter looks at it
    on every call until it is closed."""
    meter = TreeMeter(roots)
    before = meter.usage()[0]
    path = roots[0] / "mapped"
    writer = subprocess.Popen([sys.executable, "-c", f"""
import mmap, os, sys
fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)
os.ftruncate(fd, {8 * MiB})
m = mmap.mmap(fd, {8 * MiB})
os.close(fd)
print("open", flush=True)
sys.stdin.readline()
m[:] = os.urandom({8 * MiB})
m.flush()
print("written", flush=True)
sys.stdin.readline()
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "open\n"
    assert meter.usage()[0] - before < MiB  # sparse so far
    writer.stdin.write("go\n")
    writer.stdin.flush()
    assert writer.stdout.readline() == "written\n"
    assert meter.usage()[0] - before >= 8 * MiB  # the mapping is still there, and no event came
    writer.stdin.write("end\n")
    writer.stdin.flush()
    writer.wait()
    assert meter.usage(settled=True)[0] == walked(roots)


def test_big_files_are_named_once_each(roots):
    meter = TreeMeter(roots)
    (roots[0] / "big").write_bytes(b"x" * (2 * MiB))
    (roots[0] / "small").write_bytes(b"x")
    _, big = meter.usage(MiB, 0.0, settled=True)
    assert [(path.name, size) for path, size in big] == [("big", 2 * MiB)]
    assert meter.usage(MiB, 0.0, settled=True)[1] == []  # unchanged since: not named again


def test_lost_events_fall_back_to_walking_until_no_command_runs(roots, monkeypatch):
    meter = TreeMeter(roots)
    real_drain = meter._drain
    monkeypatch.setattr(meter, "_drain", lambda: (real_drain()[0], True))  # the queue overflowed
    (roots[0] / "f").write_bytes(os.urandom(100_000))
    assert meter.usage()[0] == walked(roots)
    monkeypatch.setattr(meter, "_drain", real_drain)
    assert meter._blind  # a command may still run: its open files are unknown
    (roots[0] / "g").write_bytes(os.urandom(100_000))
    assert meter.usage(settled=True)[0] == walked(roots)
    assert not meter._blind
    (roots[0] / "h").write_bytes(os.urandom(100_000))
    assert meter.usage(settled=True)[0] == walked(roots)


def test_without_inotify_or_out_of_watches_it_walks(roots, monkeypatch):
    meter = TreeMeter(roots)
    meter.close()  # as when a watch could not be added (max_user_watches)
    assert not meter.watching
    (roots[0] / "f").write_bytes(os.urandom(100_000))
    assert meter.usage(settled=True)[0] == walked(roots)
    from pytest_agentbench.sandbox import limits

    monkeypatch.setattr(limits, "_libc", lambda: None)
    walking = TreeMeter(roots)
    assert not walking.watching and walking.total == walked(roots)


def test_the_watch_closes_with_the_meter(roots):
    """Closed by a thread (the kernel may take ~20 ms to drop the watches): soon, not at once."""
    meter = TreeMeter(roots)
    fd = meter._fd
    os.fstat(fd)  # open
    del meter
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.fstat(fd)
        except OSError:
            return
        time.sleep(0.01)
    pytest.fail("the inotify descriptor is still open 5 s after its meter went")
