"""The logfile output: hash chain, checkpoints, rotation, several writers, and `verify`."""

from __future__ import annotations

import gzip
import stat
import time
from pathlib import Path

import orjson
import pytest

from bastion.audit.chain import link, split_line
from bastion.audit.logfile import LogFileOutput
from bastion.audit.verify import verify

KEY = bytes(range(32))
DAY = 86_400.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def output(tmp_path: Path, clock: Clock | None = None, **options: int) -> LogFileOutput:
    return LogFileOutput(
        tmp_path / "bastion_audit.json",
        KEY,
        max_size=options.get("max_size", 1 << 30),
        checkpoint_interval=options.get("interval", 5),
        queue_size=100,
        clock=clock or Clock(),
    )


def events(count: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {"type": "audit", "event.action": "access_granted", "n": start + i} for i in range(count)
    ]


def log_files(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("bastion_audit*.json*"))


def test_lines_chain_and_checkpoints(tmp_path: Path) -> None:
    out = output(tmp_path)
    out.write_batch(events(7))
    out.write_batch(events(4, 7))
    lines = out.path.read_bytes().splitlines()
    assert len(lines) == 11 + 2  # checkpoints after sequence 5 and 11
    previous = "0" * 64
    for number, line in enumerate(lines, start=1):
        fields = orjson.loads(line)
        assert fields["event.sequence"] == number
        content, recorded = split_line(line) or (b"", "")
        assert recorded == link(previous, content) == fields["event.hash"]
        previous = recorded
    checkpoint = orjson.loads(lines[5])
    assert checkpoint["event.type"] == "bastion_checkpoint"
    assert checkpoint["checkpoint.sequence"] == 5
    assert stat.S_IMODE(out.path.stat().st_mode) == 0o600
    report = verify([out.path], KEY)
    assert report.problem is None
    # Checkpoints fall on every 5th sequence number: after 5 and 10.
    assert orjson.loads(lines[10])["checkpoint.sequence"] == 10
    assert (report.lines, report.checkpoints, report.unsigned_tail) == (13, 2, 2)


def test_two_writers_share_one_chain(tmp_path: Path) -> None:
    first, second = output(tmp_path), output(tmp_path)
    for i in range(6):
        (first if i % 2 else second).write_batch(events(3, 3 * i))
    assert verify([first.path], KEY).problem is None
    numbers = [orjson.loads(line).get("n") for line in first.path.read_bytes().splitlines()]
    assert [n for n in numbers if n is not None] == list(range(18))


def test_size_and_daily_rotation_with_compression(tmp_path: Path) -> None:
    clock = Clock()
    out = output(tmp_path, clock, max_size=600, interval=1000)
    for i in range(6):
        out.write_batch(events(3, 3 * i))
    clock.now += DAY  # the next write starts a new day: the file of yesterday rotates
    out.write_batch(events(1, 100))
    rotated = [p for p in log_files(tmp_path) if p.name.endswith(".gz")]
    assert len(rotated) >= 2
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in rotated)
    assert not [p for p in log_files(tmp_path) if p.name.endswith("-1.json")]
    last_rotated = gzip.decompress(rotated[-1].read_bytes()).splitlines()
    assert orjson.loads(last_rotated[-1])["event.action"] == "rotation"
    report = verify(log_files(tmp_path), KEY)
    assert report.problem is None, report.problem
    assert report.files == len(rotated) + 1


def _written(tmp_path: Path, count: int = 12) -> list[bytes]:
    folder = tmp_path / "written"
    folder.mkdir(exist_ok=True)
    (folder / "bastion_audit.json").unlink(missing_ok=True)
    out = output(folder)
    out.write_batch(events(count))
    return out.path.read_bytes().splitlines(keepends=True)


def _check(tmp_path: Path, lines: list[bytes], key: bytes | None = KEY) -> str:
    path = tmp_path / "bastion_audit.json"
    path.write_bytes(b"".join(lines))
    problem = verify([path], key).problem
    assert problem is not None
    return str(problem)


def test_altered_line(tmp_path: Path) -> None:
    lines = _written(tmp_path)
    lines[3] = lines[3].replace(b'"n":3', b'"n":9')
    assert _check(tmp_path, lines).endswith(
        "bastion_audit.json:4: altered line: its content does not match its event.hash"
    )


def test_deleted_line(tmp_path: Path) -> None:
    lines = _written(tmp_path)
    del lines[2]
    assert ":3: 1 line(s) missing before this one" in _check(tmp_path, lines)


def test_reordered_lines(tmp_path: Path) -> None:
    lines = _written(tmp_path)
    lines[2], lines[3] = lines[3], lines[2]
    assert ":3: 1 line(s) missing before this one, deleted or moved" in _check(tmp_path, lines)
    lines = _written(tmp_path)
    lines.insert(4, lines[1])
    assert ":5: reordered or repeated line (sequence 2 follows 4)" in _check(tmp_path, lines)


def test_truncated_line(tmp_path: Path) -> None:
    lines = _written(tmp_path)
    lines[-1] = lines[-1][:20]
    assert f":{len(lines)}: truncated line" in _check(tmp_path, lines)


def test_rechained_forgery_fails_the_signature(tmp_path: Path) -> None:
    """An attacker who edits a line and recomputes every hash after it still cannot sign."""
    lines = _written(tmp_path)
    previous = "0" * 64
    forged = []
    for line in lines:
        fields = orjson.loads(line)
        fields.pop("event.hash")
        if fields.get("n") == 2:
            fields["n"] = 99
        if fields.get("event.type") == "bastion_checkpoint":
            fields["checkpoint.hash"] = previous
        content = orjson.dumps(fields)
        previous = link(previous, content)
        forged.append(content[:-1] + b',"event.hash":"' + previous.encode() + b'"}\n')
    assert ":6: forged checkpoint" in _check(tmp_path, forged)
    # Without the key only the chain can be checked, and it is consistent.
    path = tmp_path / "bastion_audit.json"
    assert verify([path], None).problem is None


def test_truncated_rotated_file(tmp_path: Path) -> None:
    out = output(tmp_path, max_size=400, interval=1000)
    for i in range(4):
        out.write_batch(events(2, 2 * i))
    rotated = [p for p in log_files(tmp_path) if p.name.endswith(".gz")]
    assert rotated
    lines = gzip.decompress(rotated[0].read_bytes()).splitlines(keepends=True)
    rotated[0].write_bytes(gzip.compress(b"".join(lines[:-1])))  # its checkpoint cut off
    problem = verify(log_files(tmp_path), KEY).problem
    assert problem is not None
    assert "truncated file" in problem.reason


def test_torn_write_is_terminated_and_reported(tmp_path: Path) -> None:
    out = output(tmp_path)
    out.write_batch(events(2))
    with out.path.open("ab") as torn:
        torn.write(b'{"type":"audit","half')
    out.write_batch(events(2, 2))
    problem = verify([out.path], KEY).problem
    assert problem is not None
    assert problem.line == 3


def test_full_queue_drops_and_counts(tmp_path: Path) -> None:
    out = LogFileOutput(
        tmp_path / "a.json", KEY, max_size=1 << 20, checkpoint_interval=10, queue_size=2
    )
    for fields in events(5):  # the writer is not started: the queue fills up
        out.submit(fields)
    assert out.dropped == 3


def test_writer_thread_drains_on_stop(tmp_path: Path) -> None:
    out = output(tmp_path)
    out.start()
    for fields in events(30):
        out.submit(fields)
    out.stop()
    assert out.written == 30
    assert verify([out.path], KEY).problem is None


@pytest.mark.parametrize("name", ["x_audit-2024-01-02-3.json.gz", "x_audit-2024-01-02-3.json"])
def test_rotated_names_sort_before_the_current_file(name: str) -> None:
    from bastion.audit.verify import chain_order

    ordered = chain_order([Path("x_audit.json"), Path(name), Path("x_audit-2024-01-01-9.json.gz")])
    assert [p.name for p in ordered] == ["x_audit-2024-01-01-9.json.gz", name, "x_audit.json"]
