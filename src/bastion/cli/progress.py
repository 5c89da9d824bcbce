"""A progress bar on stderr for long work (engine install): redrawn in place on a terminal,
one line per tenth otherwise (logs, CI)."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, label: str, stream: TextIO = sys.stderr) -> None:
        self._label = label
        self._stream = stream
        self._tty = stream.isatty()
        self._last_tenth = -1
        self._shown = False

    def __call__(self, done: int, total: int, detail: str) -> None:
        fraction = min(done / total, 1.0) if total else 0.0
        if self._tty:
            filled = int(fraction * WIDTH)
            bar = "#" * filled + "-" * (WIDTH - filled)
            line = f"\r{self._label} [{bar}] {done}/{total} {detail[:40]:<40}"
            self._stream.write(line)
            self._stream.flush()
            self._shown = True
        elif (tenth := int(fraction * 10)) != self._last_tenth:
            self._last_tenth = tenth
            self._stream.write(f"{self._label}: {int(fraction * 100)}% ({done}/{total})\n")
            self._stream.flush()

    def finish(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()
            self._shown = False
