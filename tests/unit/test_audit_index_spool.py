"""The index output reads its spool (the audit log, rotated files included) in chain order."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from bastion.audit.index_output import IndexShipper, index_name
from bastion.audit.logfile import LogFileOutput


def test_pending_follows_the_chain_across_rotations(tmp_path: Path) -> None:
    out = LogFileOutput(
        tmp_path / "c_audit.json", b"k" * 32, max_size=500, checkpoint_interval=4, queue_size=1
    )
    for n in range(12):
        out.write_batch([{"type": "audit", "timestamp": "2026-11-28T10:00:00,000+0000", "n": n}])
    assert list(tmp_path.glob("c_audit-*.json.gz"))
    shipper = IndexShipper(out.path, cast(Any, None), batch_size=5, interval=1.0)
    shipped: list[int] = []
    cursor = 0
    while batch := shipper.pending(cursor):
        assert len(batch) <= 5
        assert [item.sequence for item in batch] == list(range(cursor + 1, cursor + 1 + len(batch)))
        shipped += [item.fields["n"] for item in batch if item.fields is not None]
        cursor = batch[-1].sequence
    assert shipped == list(range(12))


def test_index_name() -> None:
    assert index_name("2026-11-28T10:00:00,000+0000") == ".bastion-audit-2026.11.28"
