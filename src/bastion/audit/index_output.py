"""The index output (Bastion's own; Elasticsearch dropped its index output because it lost
events): audit events shipped to `.bastion-audit-YYYY.MM.DD` indices in the engine.

The audit log itself is the durable spool: events are on disk before they are shipped, and a
cursor file (`.<log>.shipped`, the last shipped `event.sequence`, replaced atomically) says how
far shipping got. One worker at a time ships (an `flock` on `.<log>.shipper.lock`; when it
dies, another takes over). Each event is indexed with `op_type=create` and its `event.hash` as
`_id`, so a batch sent again after a crash between the engine's answer and the cursor update
creates nothing twice (the engine answers 409 for those). While the engine is down or slow,
events wait in the log and are shipped in order when it is back; memory holds one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gzip
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bastion.audit.chain import CHECKPOINT_TYPE
from bastion.audit.stats import StatsFile
from bastion.audit.verify import chain_order
from bastion.backend.client import EngineClient, EngineUnavailable

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
ERROR_LOG_INTERVAL = 10.0
INDEX_PREFIX = ".bastion-audit-"


class ShipError(Exception):
    """The engine did not take the batch; it is sent again later."""


@dataclass(frozen=True, slots=True)
class Pending:
    sequence: int
    line: bytes  # without its newline
    fields: dict[str, Any] | None  # None for checkpoint lines, which are not shipped


def index_name(timestamp: str) -> str:
    """`2026-11-28T…` → `.bastion-audit-2026.11.28`."""
    return INDEX_PREFIX + timestamp[:10].replace("-", ".")


class IndexShipper:
    def __init__(
        self,
        log_path: Path,
        engine: EngineClient,
        *,
        batch_size: int,
        interval: float,
        stats: StatsFile | None = None,
    ) -> None:
        self._log = log_path
        self._stats = stats
        self._engine = engine
        self._batch_size = batch_size
        self._interval = interval
        self._cursor_path = log_path.with_name(f".{log_path.name}.shipped")
        self._lock_path = log_path.with_name(f".{log_path.name}.shipper.lock")
        self._lock_fd: int | None = None
        self._rotated_last: dict[str, int] = {}  # rotated file (without .gz) → last sequence
        self._memo: tuple[int, int, int] | None = None  # current file: inode, offset, sequence
        self._task: asyncio.Task[None] | None = None
        self._last_error_log = 0.0
        self.shipped = 0  # events created in the engine by this worker
        self.failed = 0  # events the engine refused for good (e.g. a mapping conflict)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _leader(self) -> bool:
        if self._lock_fd is not None:
            return True
        self._log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    async def _run(self) -> None:
        delay = self._interval
        while True:
            await asyncio.sleep(delay)
            if not self._leader():
                continue
            try:
                while await self.ship_once():
                    pass
                delay = self._interval
            except (EngineUnavailable, ShipError, OSError) as error:
                delay = min(MAX_BACKOFF, max(delay * 2, 1.0))
                now = time.monotonic()
                if now - self._last_error_log >= ERROR_LOG_INTERVAL:
                    self._last_error_log = now
                    log.warning("audit events wait on disk for the engine: %s", error)

    async def ship_once(self) -> bool:
        """Ship one batch after the cursor; False when there was nothing to ship."""
        cursor = await asyncio.to_thread(self._read_cursor)
        pending = await asyncio.to_thread(self.pending, cursor)
        if not pending:
            return False
        events = [item for item in pending if item.fields is not None]
        if events:
            await self._bulk(events)
        await asyncio.to_thread(self._write_cursor, pending[-1].sequence)
        return True

    async def _bulk(self, events: list[Pending]) -> None:
        body = bytearray()
        for item in events:
            assert item.fields is not None
            target = index_name(str(item.fields.get("timestamp", "")))
            action = {"create": {"_index": target, "_id": item.fields["event.hash"]}}
            body += orjson.dumps(action) + b"\n" + item.line + b"\n"
        headers = {"Content-Type": "application/x-ndjson"}
        async with await self._engine.request("POST", "/_bulk", headers, bytes(body)) as answer:
            raw = await answer.read()
            status = answer.status
        if status != 200:
            raise ShipError(f"the engine answered {status} to the audit bulk")
        for entry in orjson.loads(raw).get("items", []):
            result = next(iter(entry.values()))
            code = result.get("status", 500)
            if code in (200, 201, 409):  # 409: shipped before the last crash
                self.shipped += code != 409
            elif code == 429 or code >= 500:
                raise ShipError(f"the engine refused audit events with {code}; retrying")
            else:
                self.failed += 1
                log.error("audit event not indexed (%s): %s", code, result.get("error"))
        if self._stats is not None:
            try:
                self._stats.write({"shipped": self.shipped, "failed": self.failed})
            except OSError as error:
                log.error("cannot update the audit counters in %s: %s", self._stats.path, error)

    def _read_cursor(self) -> int:
        try:
            return int(orjson.loads(self._cursor_path.read_bytes())["sequence"])
        except FileNotFoundError:
            return 0
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.error("%s is damaged; shipping starts over (no duplicates)", self._cursor_path)
            return 0

    def _write_cursor(self, sequence: int) -> None:
        temp = self._cursor_path.with_name(self._cursor_path.name + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, orjson.dumps({"sequence": sequence}))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, self._cursor_path)

    def _files(self) -> list[Path]:
        stem = self._log.stem
        found = {p.name: p for p in self._log.parent.glob(f"{stem}-*.json*")}
        # While a rotated file is being compressed both forms exist: read the plain one.
        kept = [
            path
            for name, path in found.items()
            if name.endswith(".json") or (name.endswith(".json.gz") and name[:-3] not in found)
        ]
        return chain_order([*kept, self._log])

    def pending(self, cursor: int) -> list[Pending]:
        """Up to a batch of lines after `cursor`, in chain order."""
        pending: list[Pending] = []
        for path in self._files():
            key = path.name.removesuffix(".gz")
            if self._rotated_last.get(key, cursor + 1) <= cursor:
                continue  # a rotated file shipped completely
            try:
                last = self._read_file(path, cursor, pending)
            except FileNotFoundError:
                continue  # rotated (renamed or compressed) meanwhile: seen at the next pass
            if len(pending) >= self._batch_size:
                break  # maybe not read to its end: not remembered as shipped
            if path != self._log:
                self._rotated_last[key] = last
        return pending

    def _read_file(self, path: Path, cursor: int, pending: list[Pending]) -> int:
        """Append the lines after `cursor` to `pending` (up to a batch); the last sequence.
        In the current file, reading resumes where the previous pass saw shipped lines end."""
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as packed:
                return self._collect(packed, cursor, pending, None)
        with path.open("rb") as lines:
            inode = os.fstat(lines.fileno()).st_ino
            memo = self._memo
            if memo is not None and memo[0] == inode and memo[2] <= cursor:
                lines.seek(memo[1])
            return self._collect(lines, cursor, pending, inode if path == self._log else None)

    def _collect(self, lines: Any, cursor: int, pending: list[Pending], inode: int | None) -> int:
        last = 0
        offset = lines.tell()
        for raw in lines:
            offset += len(raw)
            item = _parse(raw)
            if item is None:
                if not raw.endswith(b"\n"):
                    break  # being written: the rest is read at the next pass
                continue
            last = item.sequence
            if item.sequence <= cursor:
                if inode is not None:
                    self._memo = (inode, offset, item.sequence)
            elif len(pending) < self._batch_size:
                pending.append(item)
            else:
                break
        return last


def _parse(raw: bytes) -> Pending | None:
    if not raw.endswith(b"\n"):
        return None  # being written, or torn
    line = raw[:-1]
    try:
        fields = orjson.loads(line)
        sequence = int(fields["event.sequence"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if fields.get("event.type") == CHECKPOINT_TYPE:
        return Pending(sequence, line, None)
    return Pending(sequence, line, fields)
