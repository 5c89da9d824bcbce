"""Pool saved benchmark runs: one run's ratio moves with the machine (bulk's went from 0.83 to
1.14 within one day), and several runs together say more.

    python bench/pool.py bench/results/*.json [--workloads bulk,search]

For each workload it lists every run that measured it with its ratio and settings, then the
mean ratio with its standard deviation and standard error, and the pooled rates (the mean of
every measured round of each target). Runs made with other settings are listed with them, so
that a mixed pool is seen; select files, or use `--only`, to compare like with like:

    python bench/pool.py bench/results/*.json --workloads search --only "slice 300 µs"
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Measured:
    """One run's figures for one workload."""

    stamp: str
    settings: str
    ratio: float
    direct_rounds: tuple[float, ...]
    gateway_rounds: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Pooled:
    runs: int
    mean: float
    stdev: float | None  # None for a single run
    stderr: float | None
    direct_rate: float  # mean over all rounds
    gateway_rate: float


def settings_of(meta: dict[str, Any]) -> str:
    """What makes runs comparable, in a few words."""
    placement = meta.get("placement", {})
    machine = meta.get("machine", {})
    parts = [
        str(meta.get("git") or "?"),
        f"python {machine.get('python', '?')}",
        f"wrk {placement.get('loadgen_policy', 'normal')}",
        f"engine slice {placement.get('engine_slice', 'default')}",
        f"{meta.get('rounds', '?')}×{meta.get('duration', '?')} s",
    ]
    if meta.get("references"):
        parts.append("with " + " and ".join(meta["references"]))
    if meta.get("gateway_settings"):
        parts.append(" ".join(meta["gateway_settings"]))
    return ", ".join(parts)


def measured(record: dict[str, Any], workload: str) -> Measured | None:
    rows = {row["target"]: row for row in record["rows"] if row["workload"] == workload}
    if not {"direct", "gateway"} <= rows.keys() or not rows["direct"]["rate"]:
        return None
    meta = record.get("meta", {})
    return Measured(
        stamp=str(meta.get("stamp", "?")),
        settings=settings_of(meta),
        ratio=rows["gateway"]["rate"] / rows["direct"]["rate"],
        direct_rounds=tuple(rows["direct"]["rates"]),
        gateway_rounds=tuple(rows["gateway"]["rates"]),
    )


def pool(runs: list[Measured]) -> Pooled:
    ratios = [run.ratio for run in runs]
    stdev = statistics.stdev(ratios) if len(ratios) > 1 else None
    return Pooled(
        runs=len(runs),
        mean=statistics.fmean(ratios),
        stdev=stdev,
        stderr=None if stdev is None else stdev / len(ratios) ** 0.5,
        direct_rate=statistics.fmean(rate for run in runs for rate in run.direct_rounds),
        gateway_rate=statistics.fmean(rate for run in runs for rate in run.gateway_rounds),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/pool.py", description=__doc__)
    parser.add_argument("results", nargs="+", type=Path, help="JSON files from bench/run.py")
    parser.add_argument("--workloads", default="get,search,bulk,authz", help="comma-separated")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="keep the runs whose settings (as listed) contain TEXT; repeat to require several",
    )
    args = parser.parse_args(argv)
    records = []
    for path in args.results:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            print(f"pool: cannot read {path}: {error}", file=sys.stderr)
            return 1
        if not isinstance(record, dict) or not isinstance(record.get("rows"), list):
            print(f"pool: {path} is not a result of bench/run.py", file=sys.stderr)
            return 1
        records.append(record)
    for workload in args.workloads.split(","):
        runs = [
            run
            for record in records
            if (run := measured(record, workload)) is not None
            and all(text in run.settings for text in args.only)
        ]
        if not runs:
            print(f"{workload}: no run measured it\n")
            continue
        print(f"{workload}:")
        for run in runs:
            print(f"  {run.stamp}  ratio {run.ratio:5.2f}  ({run.settings})")
        summary = pool(runs)
        spread = (
            ""
            if summary.stdev is None or summary.stderr is None
            else f", standard deviation {summary.stdev:.3f}, standard error {summary.stderr:.3f}"
        )
        print(
            f"  {summary.runs} runs: mean ratio {summary.mean:.3f}{spread}; pooled rounds: "
            f"{summary.direct_rate:,.1f} req/s direct, {summary.gateway_rate:,.1f} through the "
            f"gateway ({summary.gateway_rate / summary.direct_rate:.3f})\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
