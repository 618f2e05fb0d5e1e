"""OutputSet's all-or-nothing promise, made deterministic.

1. The previous run's outputs are cleared in the background; ``commit()`` must let that finish
   before renaming, or the clearing deletes the FRESH output. Whether it does depends on thread
   scheduling, so the schedule is forced here: any unlink made off the main thread waits until
   the main thread either joins a thread or renames an output. With the join in ``commit()``,
   the stale file goes first; without it, the rename lands first and the fresh file is deleted,
   every time.
2. A commit whose second rename fails (its temporary file vanished: a real ENOENT from the
   kernel) has already put the first output in place; ``abort(targets)`` must remove it, so the
   run leaves no partial set behind.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from scangate.errors import OutputError
from scangate.outputs.atomic import OutputSet

# Only a safety net against a deadlock in a broken build: no assertion depends on time.
DEADLOCK_GUARD_SECONDS = 30


@pytest.fixture
def background_unlinks_wait_for_the_main_thread(
        monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    main_moved = threading.Event()
    real_unlink, real_replace, real_join = os.unlink, os.replace, threading.Thread.join

    def unlink(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if threading.current_thread() is not threading.main_thread():
            assert main_moved.wait(DEADLOCK_GUARD_SECONDS), "main thread never moved on"
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    def replace(src: str, dst: str, *args: object, **kwargs: object) -> None:
        main_moved.set()
        real_replace(src, dst, *args, **kwargs)  # type: ignore[arg-type]

    def join(self: threading.Thread, timeout: float | None = None) -> None:
        main_moved.set()
        real_join(self, timeout)

    monkeypatch.setattr(os, "unlink", unlink)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(threading.Thread, "join", join)
    before = set(threading.enumerate())
    yield
    main_moved.set()
    for thread in _started_since(before):  # every background clearing has finished
        real_join(thread, DEADLOCK_GUARD_SECONDS)


def _started_since(before: set[threading.Thread]) -> list[threading.Thread]:
    """The threads the code under test started: not the runner's own (pytest-xdist's execnet
    thread is a daemon that never ends; joining it waited out the guard twice per run)."""
    return [thread for thread in threading.enumerate() if thread not in before]


def test_commit_never_lets_the_clearing_of_stale_outputs_delete_the_fresh_ones(
        tmp_path: Path, background_unlinks_wait_for_the_main_thread: None) -> None:
    targets = [tmp_path / "summary.json", tmp_path / "report.sarif"]
    for target in targets:
        target.write_text("an earlier run's result")
    before = set(threading.enumerate())
    outputs = OutputSet([str(t) for t in targets])
    for target in targets:
        outputs.add(str(target), f"fresh {target.name}".encode())
    outputs.commit()
    for thread in _started_since(before):  # let any background work end before looking
        thread.join(DEADLOCK_GUARD_SECONDS)
    for target in targets:
        assert target.exists(), f"{target.name}: the fresh output was deleted"
        assert target.read_text() == f"fresh {target.name}"


def test_abort_after_a_failed_rename_leaves_no_output_of_the_run(tmp_path: Path) -> None:
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    first, second = first_dir / "summary.json", second_dir / "report.sarif"
    first.write_text("an earlier run's result")
    targets = [str(first), str(second)]
    outputs = OutputSet(targets)
    outputs.add(str(first), b"fresh summary")
    outputs.add(str(second), b"fresh sarif")
    # The second output's temporary file (written beside its target) disappears before the
    # commit: its rename fails with a real ENOENT after the first one has landed.
    [temporary] = list(second_dir.iterdir())
    temporary.unlink()
    with pytest.raises(OutputError, match="report.sarif: cannot write"):
        outputs.commit()
    assert first.read_bytes() == b"fresh summary"  # the partial set the abort must clear
    outputs.abort(targets)
    assert list(first_dir.iterdir()) == [] and list(second_dir.iterdir()) == []


def test_a_file_replaced_on_success_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    """replaced_on_success (the scan's report and SBOM, the feeds, install-tool's binaries): the
    block fills a file beside the target; only a block that ends puts it there, with the mode
    asked; a failing block leaves the old file and no temporary behind."""
    from scangate.errors import ScanError
    from scangate.outputs.atomic import replaced_on_success

    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(ScanError, match="the tool failed"), \
            replaced_on_success(target, "--output report.json", error=ScanError) as partial:
        Path(partial).write_text("half", encoding="utf-8")
        assert Path(partial).parent == tmp_path
        raise ScanError("the tool failed")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    with replaced_on_success(target, "--output report.json", mode=0o755) as partial:
        Path(partial).write_text("new", encoding="utf-8")
        assert target.read_text(encoding="utf-8") == "old"  # nothing replaced before the end
    assert target.read_text(encoding="utf-8") == "new"
    assert target.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_file_that_cannot_be_placed_is_one_error_naming_it(tmp_path: Path) -> None:
    from scangate.outputs.atomic import replaced_on_success, write_replacing

    missing = tmp_path / "no-such-dir" / "report.json"
    with pytest.raises(OutputError, match=r"^--output x: cannot write: No such file"):
        with replaced_on_success(missing, "--output x"):
            raise AssertionError("the block must not run")
    occupied = tmp_path / "a-directory"
    (occupied / "inside").mkdir(parents=True)
    with pytest.raises(OutputError, match=r"^a-directory: cannot write: "):
        write_replacing(occupied, b"data", "a-directory")
    assert (occupied / "inside").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-directory"]
