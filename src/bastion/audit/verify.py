"""`bastion audit verify`: check the hash chain and signed checkpoints of audit log files.

Files are put in chain order (rotated `<name>-<date>-<i>.json[.gz]` by date and index, then the
others as given); the first problem is reported as `file:line: what`, and checking stops there.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from bastion.audit.chain import CHECKPOINT_TYPE, GENESIS, link, signature_valid, split_line

ROTATED_SUFFIXES = (".json.gz", ".json")


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Report:
    problem: Problem | None
    files: int
    lines: int
    checkpoints: int
    first_sequence: int | None
    last_sequence: int | None
    unsigned_tail: int  # lines after the last checkpoint (not yet covered by a signature)


def _order_key(path: Path) -> tuple[int, str, int, str]:
    name = path.name
    for suffix in ROTATED_SUFFIXES:
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            parts = stem.rsplit("-", 4)
            if len(parts) == 5 and parts[4].isdigit():
                return (0, "-".join(parts[1:4]), int(parts[4]), name)
    return (1, "", 0, name)


def chain_order(paths: Iterable[Path]) -> list[Path]:
    return sorted(paths, key=_order_key)


def _lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as source:
        yield from source


class _Checker:
    def __init__(self, key: bytes | None) -> None:
        self.key = key
        self.previous: str | None = None  # None: the first line anchors the chain
        self.sequence: int | None = None
        self.first: int | None = None
        self.lines = 0
        self.checkpoints = 0
        self.since_checkpoint = 0
        self.last_was_rotation = True

    def line(self, raw: bytes) -> str | None:
        """None when `raw` continues the chain, else what is wrong with it."""
        if not raw.endswith(b"\n"):
            return "truncated line (no end of line): the file was cut"
        raw = raw[:-1]
        parts = split_line(raw)
        if parts is None:
            return "altered line: it has no well-formed event.hash"
        content, recorded = parts
        try:
            fields = orjson.loads(raw)
            sequence = int(fields["event.sequence"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return "altered line: not a JSON audit event with an event.sequence"
        if self.sequence is not None and sequence != self.sequence + 1:
            if sequence > self.sequence + 1:
                missing = sequence - self.sequence - 1
                return (
                    f"{missing} line(s) missing before this one, deleted or moved "
                    f"(sequence {sequence} follows {self.sequence})"
                )
            return f"reordered or repeated line (sequence {sequence} follows {self.sequence})"
        previous = self.previous
        if previous is None:
            previous = GENESIS if sequence == 1 else None
        if previous is not None and link(previous, content) != recorded:
            return "altered line: its content does not match its event.hash"
        if fields.get("event.type") == CHECKPOINT_TYPE:
            problem = self._checkpoint(fields)
            if problem is not None:
                return problem
        else:
            self.since_checkpoint += 1
            self.last_was_rotation = False
        if self.first is None:
            self.first = sequence
        self.previous = recorded
        self.sequence = sequence
        self.lines += 1
        return None

    def _checkpoint(self, fields: dict[str, object]) -> str | None:
        signed_sequence = fields.get("checkpoint.sequence")
        signed_hash = fields.get("checkpoint.hash")
        signature = fields.get("checkpoint.signature")
        if not (
            isinstance(signed_sequence, int)
            and isinstance(signed_hash, str)
            and isinstance(signature, str)
        ):
            return "altered checkpoint: fields missing"
        if self.previous is not None and (
            signed_hash != self.previous or signed_sequence != self.sequence
        ):
            return "altered checkpoint: it does not sign the line before it"
        if self.key is not None and not signature_valid(
            self.key, signed_sequence, signed_hash, signature
        ):
            return "forged checkpoint: the signature does not match (altered or wrong key)"
        self.checkpoints += 1
        self.since_checkpoint = 0
        self.last_was_rotation = fields.get("event.action") == "rotation"
        return None


def verify(paths: Iterable[Path], key: bytes | None) -> Report:
    ordered = chain_order(paths)
    checker = _Checker(key)
    problem: Problem | None = None
    for position, path in enumerate(ordered):
        number = 0
        try:
            for number, raw in enumerate(_lines(path), start=1):
                reason = checker.line(raw)
                if reason is not None:
                    problem = Problem(path, number, reason)
                    break
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            problem = Problem(path, number + 1, f"unreadable: {error}")
        if problem is not None:
            break
        is_last = position == len(ordered) - 1
        if not is_last and not checker.last_was_rotation:
            problem = Problem(
                path, number, "truncated file: a rotated file must end with its rotation checkpoint"
            )
            break
    return Report(
        problem,
        len(ordered),
        checker.lines,
        checker.checkpoints,
        checker.first,
        checker.sequence,
        checker.since_checkpoint,
    )
