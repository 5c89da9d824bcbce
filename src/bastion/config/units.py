"""Elasticsearch's value units: byte sizes (`100mb`) and time values (`30s`)."""

from __future__ import annotations

import re

_BYTE_UNITS = {"b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40, "pb": 1 << 50}
_TIME_UNITS = {
    "nanos": 1e-9,
    "micros": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_VALUE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


def parse_byte_size(text: str) -> int:
    """`100mb` → 104857600. A bare number is bytes, as in Elasticsearch."""
    match = _VALUE.match(text.lower())
    if not match or match.group(2) not in {"", *_BYTE_UNITS}:
        raise ValueError(f"failed to parse [{text}] as a byte size value (use b, kb, mb, gb, tb)")
    number = float(match.group(1))
    if number < 0:
        raise ValueError(f"byte size [{text}] must not be negative")
    return int(number * _BYTE_UNITS[match.group(2) or "b"])


def parse_time_value(text: str) -> float:
    """`30s` → 30.0 seconds. A unit is required, as in Elasticsearch (`-1` means none)."""
    match = _VALUE.match(text.lower())
    if text.strip() in {"-1", "0"}:
        return float(text)
    if not match or match.group(2) not in _TIME_UNITS:
        raise ValueError(f"failed to parse [{text}] as a time value (use ms, s, m, h, d)")
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]
