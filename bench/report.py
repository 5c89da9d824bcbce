"""Turning measured runs into the figures: a table, the goals, and a JSON record."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadgen import LoadResult
from procs import REFERENCES, Usage

GATEWAY_CPU_GOAL_US = 150.0
# The reference proxies are measured only when asked for (`--reference`).
TARGETS = ("direct", "gateway", *REFERENCES)


@dataclass(frozen=True, slots=True)
class Run:
    workload: str
    target: str
    round: int
    load: LoadResult
    usage: Usage


@dataclass(frozen=True, slots=True)
class Row:
    """One workload against one target, over every measured round."""

    workload: str
    target: str
    rate: float  # all requests / all seconds: rounds weigh by their length
    rates: tuple[float, ...]  # per round, to show the spread
    p50_ms: float  # median over rounds (wrk histograms cannot be merged)
    p99_ms: float
    gateway_us: float | None  # CPU of the gateway workers per request; None when direct
    reference_us: float | None  # CPU of the reference proxy per request, on its rows only
    engine_us: float
    engine_busy: float  # mean cores the engine used: about 1.0 when it never waits for work
    loadgen_us: float
    other_cores: float  # mean cores used by processes that are not ours (noise)
    failures: int


def aggregate(runs: list[Run]) -> Row:
    first = runs[0]
    requests = sum(run.load.requests for run in runs)
    per_request = 1e6 / requests if requests else 0.0
    wall = sum(run.usage.wall for run in runs)
    return Row(
        workload=first.workload,
        target=first.target,
        rate=requests / sum(run.load.seconds for run in runs),
        rates=tuple(run.load.rate for run in runs),
        p50_ms=statistics.median(run.load.p50_ms for run in runs),
        p99_ms=statistics.median(run.load.p99_ms for run in runs),
        gateway_us=(
            sum(run.usage.gateway for run in runs) * per_request
            if first.target == "gateway"
            else None
        ),
        reference_us=(
            sum(run.usage.references[first.target] for run in runs) * per_request
            if first.target in REFERENCES
            else None
        ),
        engine_us=sum(run.usage.engine for run in runs) * per_request,
        engine_busy=sum(run.usage.engine for run in runs) / wall,
        loadgen_us=sum(run.usage.loadgen for run in runs) * per_request,
        other_cores=sum(run.usage.other for run in runs) / wall,
        failures=sum(run.load.failures for run in runs),
    )


def rows_of(runs: list[Run], workloads: list[str]) -> list[Row]:
    return [
        aggregate(selected)
        for name in workloads
        for target in TARGETS
        if (selected := [r for r in runs if r.workload == name and r.target == target])
    ]


@dataclass(frozen=True, slots=True)
class Goal:
    workload: str
    what: str
    goal: str
    measured: float
    met: bool


def ratio(rows: list[Row], workload: str, target: str = "gateway") -> float | None:
    rates = {row.target: row.rate for row in rows if row.workload == workload}
    if "direct" not in rates or target not in rates or not rates["direct"]:
        return None
    return rates[target] / rates["direct"]


def goals(rows: list[Row], goal_ratios: dict[str, float]) -> list[Goal]:
    found = []
    for name, wanted in goal_ratios.items():
        measured = ratio(rows, name)
        if measured is not None:
            found.append(
                Goal(name, "ratio gateway/direct", f"≥ {wanted}", measured, measured >= wanted)
            )
        for row in rows:
            if row.workload == name and row.gateway_us is not None:
                limit = GATEWAY_CPU_GOAL_US
                found.append(
                    Goal(
                        name,
                        "gateway CPU µs/req",
                        f"≤ {limit:.0f}",
                        row.gateway_us,
                        row.gateway_us <= limit,
                    )
                )
    return found


def _number(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def table(rows: list[Row], titles: dict[str, str]) -> str:
    width = max([18, *map(len, titles.values())])
    header = (
        f"{'workload':<{width}} {'target':<8} {'req/s':>8} {'spread':>13} "
        f"{'p50 ms':>7} {'p99 ms':>7} "
        f"{'proxy µs/req':>12} {'engine µs/req':>13} {'engine busy':>11} {'wrk µs/req':>10} "
        f"{'ratio':>6} {'noise':>6}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        spread = f"{min(row.rates):,.0f}–{max(row.rates):,.0f}"
        measured = ratio(rows, row.workload, row.target) if row.target != "direct" else None
        proxy_us = row.gateway_us if row.gateway_us is not None else row.reference_us
        lines.append(
            f"{titles[row.workload]:<{width}} {row.target:<8} {row.rate:>8,.0f} {spread:>13} "
            f"{row.p50_ms:>7.2f} {row.p99_ms:>7.2f} {_number(proxy_us):>12} "
            f"{_number(row.engine_us):>13} {row.engine_busy:>11.2f} {_number(row.loadgen_us):>10} "
            f"{_number(measured, 2):>6} {row.other_cores:>6.2f}"
            + (f"  ({row.failures} failed)" if row.failures else "")
        )
    return "\n".join(lines)


def goal_lines(found: list[Goal]) -> str:
    lines = []
    for goal in found:
        mark = "met   " if goal.met else "MISSED"
        digits = 2 if goal.what.startswith("ratio") else 0
        lines.append(
            f"  {mark} {goal.workload:<7} {goal.what:<22} {goal.goal:<7} "
            f"measured {goal.measured:,.{digits}f}"
        )
    return "\n".join(lines)


def save(folder: Path, stamp: str, record: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench-{stamp}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return path


def record(
    meta: dict[str, Any], rows: list[Row], runs: list[Run], found: list[Goal]
) -> dict[str, Any]:
    return {
        "meta": meta,
        "rows": [asdict(row) for row in rows],
        "goals": [asdict(goal) for goal in found],
        "runs": [asdict(run) for run in runs],
    }
