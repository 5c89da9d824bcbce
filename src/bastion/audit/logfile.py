"""The logfile output: `<home>/logs/<cluster_name>_audit.json`, written off the request path.

Events go to a bounded in-memory queue; one writer thread per worker process drains it in
batches. All workers append to the same file and extend the same hash chain, so each batch is
written under an exclusive `flock` on a lock file beside the log: the writer reads the chain
head (the last line) under the lock, appends whole lines with one `O_APPEND` write, and releases.
Rotation (daily, UTC, and at `max_size`) also happens under the lock: a signed `rotation`
checkpoint closes the old file, which is renamed to `<name>-<yyyy-MM-dd>-<i>.json` and then
gzip-compressed; the new file's first line chains to the old file's last.

A full queue drops the event; a disk error drops the batch. Both are counted and logged (at most
once per `ERROR_LOG_INTERVAL`) and never raised into request handling.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import gzip
import logging
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from bastion.audit.chain import CHECKPOINT_TYPE, GENESIS, chained_line, sign, split_line
from bastion.audit.redact import redact_body
from bastion.audit.stats import StatsFile

log = logging.getLogger(__name__)

ERROR_LOG_INTERVAL = 10.0  # seconds between two log lines about lost events
BATCH_MAX = 4096
TAIL_CHUNK = 65536
_STOP = object()


def audit_log_path(logs_dir: Path, cluster_name: str) -> Path:
    return logs_dir / f"{cluster_name}_audit.json"


def rotated_name_key(path: Path, base: Path) -> tuple[str, int] | None:
    """(date, index) of a rotated file of `base`, None for other files."""
    pattern = re.escape(base.stem) + r"-(\d{4}-\d{2}-\d{2})-(\d+)\.json(?:\.gz)?"
    found = re.fullmatch(pattern, path.name)
    return (found.group(1), int(found.group(2))) if found else None


def _utc_date(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d")


def timestamp(epoch: float) -> str:
    """Elasticsearch's `yyyy-MM-dd'T'HH:mm:ss,SSSZ`, in UTC."""
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S,") + f"{moment.microsecond // 1000:03d}+0000"


class LogFileOutput:
    def __init__(
        self,
        path: Path,
        key: bytes,
        *,
        max_size: int,
        checkpoint_interval: int,
        queue_size: int,
        clock: Callable[[], float] = time.time,
        stats: StatsFile | None = None,
    ) -> None:
        self.path = path
        self._stats = stats
        self._key = key
        self._max_size = max_size
        self._interval = checkpoint_interval
        self._clock = clock
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._lock_path = path.with_name(f".{path.name}.lock")
        self._thread: threading.Thread | None = None
        self.dropped = 0  # events lost to a full queue or a failed write
        self.written = 0
        self._last_error_log = 0.0

    def __repr__(self) -> str:
        return f"LogFileOutput({self.path})"

    def start(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="audit-logfile", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the writer (blocking: call it from a thread)."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    def submit(self, fields: dict[str, Any]) -> None:
        """Never blocks: a full queue loses the event (counted, logged)."""
        try:
            self._queue.put_nowait(fields)
        except queue.Full:
            self._lost(1, "the audit queue is full")

    def _lost(self, count: int, why: str) -> None:
        self.dropped += count
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_INTERVAL:
            self._last_error_log = now
            log.error("audit events lost (%d so far): %s", self.dropped, why)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch: list[dict[str, Any]] = []
            stop = first is _STOP
            if not stop:
                batch.append(first)  # type: ignore[arg-type]
            while not stop and len(batch) < BATCH_MAX:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                else:
                    batch.append(item)  # type: ignore[arg-type]
            if batch:
                try:
                    self.write_batch(batch)
                    self.written += len(batch)
                except OSError as error:
                    self._lost(len(batch), f"cannot write {self.path}: {error}")
                self._report()
            if stop:
                if self._stats is not None:
                    self._stats.close()
                return

    def _report(self) -> None:
        if self._stats is None:
            return
        try:
            self._stats.write({"written": self.written, "lost": self.dropped})
        except OSError as error:
            log.error("cannot update the audit counters in %s: %s", self._stats.path, error)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def write_batch(self, batch: list[dict[str, Any]]) -> None:
        """Append `batch` to the chain (used by the writer thread, and directly by tests)."""
        for fields in batch:  # before taking the lock that other workers wait for
            body = fields.get("request.body")
            if isinstance(body, bytes):
                fields["request.body"] = redact_body(body)
        to_compress: Path | None = None
        with self._locked():
            sequence, previous = self._head()
            if self._needs_rotation():
                to_compress = self._rotate(sequence, previous)
                sequence += 1
                previous = self._head()[1]
            out = bytearray()
            for fields in batch:
                sequence += 1
                fields["event.sequence"] = sequence
                line, previous = chained_line(fields, previous)
                out += line
                if sequence % self._interval == 0:
                    sequence += 1
                    line, previous = chained_line(
                        self._checkpoint("checkpoint", sequence, previous), previous
                    )
                    out += line
            self._append(bytes(out))
        if to_compress is not None:
            _compress(to_compress)

    def _checkpoint(self, action: str, sequence: int, previous: str) -> dict[str, Any]:
        """Signs the chain up to (and including) the line before it."""
        return {
            "type": "audit",
            "timestamp": timestamp(self._clock()),
            "event.type": CHECKPOINT_TYPE,
            "event.action": action,
            "checkpoint.sequence": sequence - 1,
            "checkpoint.hash": previous,
            "checkpoint.signature": sign(self._key, sequence - 1, previous),
            "event.sequence": sequence,
        }

    def _append(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def _needs_rotation(self) -> bool:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return False
        if stat.st_size == 0:
            return False
        return stat.st_size >= self._max_size or _utc_date(stat.st_mtime) != _utc_date(
            self._clock()
        )

    def _rotate(self, sequence: int, previous: str) -> Path:
        line, digest = chained_line(self._checkpoint("rotation", sequence + 1, previous), previous)
        self._append(line)
        date = _utc_date(self.path.stat().st_mtime)
        index = 1
        while True:
            target = self.path.with_name(f"{self.path.stem}-{date}-{index}.json")
            if not target.exists() and not target.with_name(target.name + ".gz").exists():
                break
            index += 1
        os.replace(self.path, target)
        # The new file starts empty: its first line chains to this head.
        _write_head(self._head_path(), sequence + 1, digest)
        return target

    def _head_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.head")

    def _head(self) -> tuple[int, str]:
        """(sequence, hash) of the chain's last line: the log's last line, or the head saved at
        the last rotation when the log is empty, or the start of a new chain."""
        last = _last_line(self.path)
        if last is not None:
            parsed = _parse_chained(last)
            if parsed is not None:
                return parsed
            log.error("the last line of %s is damaged; the chain continues after it", self.path)
            return _last_good(self.path)
        try:
            head = orjson.loads(self._head_path().read_bytes())
            return int(head["sequence"]), str(head["hash"])
        except (FileNotFoundError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return 0, GENESIS


def _write_head(path: Path, sequence: int, digest: str) -> None:
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, orjson.dumps({"sequence": sequence, "hash": digest}))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)


def _compress(path: Path) -> None:
    target = path.with_name(path.name + ".gz")
    temp = path.with_name(path.name + ".gz.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb") as packed, path.open("rb") as source:
            shutil.copyfileobj(source, packed)
        raw.flush()  # after the gzip trailer
        os.fsync(raw.fileno())
    os.replace(temp, target)
    path.unlink()


def _parse_chained(line: bytes) -> tuple[int, str] | None:
    if split_line(line) is None:
        return None
    try:
        fields = orjson.loads(line)
        return int(fields["event.sequence"]), str(fields["event.hash"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _last_line(path: Path) -> bytes | None:
    """The last line (without newline), read backwards in chunks; None for an empty file.
    A file not ending in a newline has a torn last line: it is returned as it is."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        end = os.fstat(fd).st_size
        if end == 0:
            return None
        tail = b""
        position = end
        while position > 0:
            start = max(0, position - TAIL_CHUNK)
            tail = os.pread(fd, position - start, start) + tail
            position = start
            body = tail[:-1] if tail.endswith(b"\n") else tail
            cut = body.rfind(b"\n")
            if cut >= 0:
                return body[cut + 1 :]
        return tail[:-1] if tail.endswith(b"\n") else tail
    finally:
        os.close(fd)


def _last_good(path: Path) -> tuple[int, str]:
    """After a torn write: terminate the torn line and continue from the last intact line."""
    good = (0, GENESIS)
    with path.open("rb") as lines:
        for line in lines:
            parsed = _parse_chained(line.rstrip(b"\n"))
            if parsed is not None:
                good = parsed
    with path.open("rb") as check:
        check.seek(-1, os.SEEK_END)
        torn = check.read(1) != b"\n"
    if torn:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, b"\n")
        finally:
            os.close(fd)
    return good
