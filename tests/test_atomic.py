"""Atomic writes: a rename over regular files, links followed, special files written through."""

import os
import stat
import threading

import pytest

from mlmon.atomic import atomic_open, write_text_atomic
from mlmon.errors import InputError


def test_a_regular_file_is_replaced_and_keeps_its_mode(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_content(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half")
        raise RuntimeError
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_symbolic_link_is_followed_and_kept(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real.name)
    write_text_atomic(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_a_fifo_is_written_through_not_replaced(tmp_path):
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_text_atomic(fifo, "through the pipe")
    reader.join(timeout=10)
    assert got == ["through the pipe"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_device_is_written_through_not_replaced():
    before = os.stat(os.devnull)
    write_text_atomic(os.devnull, "discarded")
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


@pytest.mark.parametrize("name", ["a_dir", ""])
def test_a_directory_is_an_input_error(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_dir").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        write_text_atomic(name, "x")


def test_a_link_to_an_open_descriptor_is_appended_to_not_replaced(tmp_path):
    # `mlmon report ... -o /dev/stdout >> cron.log` must keep what cron.log held.
    log = tmp_path / "cron.log"
    log.write_text("PREV\n")
    with open(log, "a") as shell_redirect:
        link = tmp_path / "out"
        link.symlink_to(f"/proc/self/fd/{shell_redirect.fileno()}")
        write_text_atomic(link, "report\n")
        assert link.is_symlink()
    assert log.read_text() == "PREV\nreport\n"


def test_write_errors_and_link_loops_are_input_errors(tmp_path):
    if os.path.exists("/dev/full"):
        with pytest.raises(InputError, match="No space left"):
            write_text_atomic("/dev/full", "x")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(InputError, match="loop"):
        write_text_atomic(tmp_path / "a", "x")
    assert (tmp_path / "a").is_symlink()


def test_temporary_files_of_killed_runs_are_removed_by_the_next_write(tmp_path):
    """A killed run leaves its hidden temporary file (named with its process id and a digest of the host's
    name); the next write to the same file removes it once that process is gone, and leaves alone those of
    live processes, of other machines (a shared disk), of other targets and of unknown shape."""
    import subprocess
    import sys

    from mlmon.atomic import _host_tag

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    host = _host_tag()
    target = tmp_path / "out"
    stale = tmp_path / f".out.{gone}@{host}.abcd1234.tmp"
    kept = {
        "live": tmp_path / f".out.{os.getppid()}@{host}.efgh5678.tmp",  # pytest's parent: alive
        "other host": tmp_path / f".out.{gone}@00000000.ijkl9012.tmp",
        "other target": tmp_path / f".out.2024.json.{gone}@{host}.mnop3456.tmp",
        "unknown shape": tmp_path / f".out.{gone}@{host}.toolongname.tmp",
        "no pid": tmp_path / ".out.notapid.tmp",
    }
    for path in (stale, *kept.values()):
        path.write_text("half")
    with atomic_open(target) as handle:
        handle.write("{}")
    assert target.read_text() == "{}"
    assert not stale.exists() and {k: p.exists() for k, p in kept.items()} == dict.fromkeys(kept, True)
    assert not list(tmp_path.glob(f".out.{os.getpid()}@*"))  # its own is renamed into place
