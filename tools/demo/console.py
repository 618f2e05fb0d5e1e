"""What the demo prints: one numbered line per step with its timing, and the closing box."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Say = Callable[[str], None]
INDENT = "      "


def say(line: str) -> None:
    print(f"{INDENT}{line}", flush=True)


class Progress:
    """Numbers the steps and times them; `timings` ends up in reports/demo.json."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.index = 0
        self.timings: list[dict[str, Any]] = []

    def _header(self, title: str) -> None:
        self.index += 1
        print(f"[{self.index}/{self.total}] {title}", flush=True)

    @contextmanager
    def step(self, title: str) -> Iterator[Say]:
        self._header(title)
        started = time.monotonic()
        status = "failed"
        try:
            yield say
            status = "ok"
        finally:
            seconds = time.monotonic() - started
            self.timings.append({"step": title, "status": status, "seconds": round(seconds, 1)})
            say(f"{status} ({seconds:.1f}s)")

    def skip(self, title: str, why: str) -> None:
        self._header(title)
        self.timings.append({"step": title, "status": "skipped", "seconds": 0.0})
        for i, line in enumerate(why.splitlines()):
            say(f"skipped: {line}" if i == 0 else f"         {line}")


def box(title: str, rows: list[tuple[str, str]]) -> str:
    """A plain-ASCII box (readable in any terminal and CI log): a title, then label/value rows.

    A value may hold several lines; they line up under the first.
    """
    width_label = max((len(label) for label, _ in rows), default=0)
    lines = []
    for label, value in rows:
        for i, part in enumerate(value.splitlines() or [""]):
            lines.append(f"{label if i == 0 else '':<{width_label}}  {part}")
    width = max([len(title), *(len(line) for line in lines)])
    rule = "+" + "-" * (width + 2) + "+"
    body = [f"| {line:<{width}} |" for line in lines]
    return "\n".join([rule, f"| {title:<{width}} |", rule, *body, rule])
