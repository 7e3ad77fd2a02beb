"""A journal that keeps every verdict it is told about, in order: the stream a run writes out."""

from __future__ import annotations

from coinswarm.agents.committee import Verdict
from coinswarm.execution.journal import MemoryJournal


class VerdictTape(MemoryJournal):
    """The in-memory journal, plus every verdict, as the store would receive them."""

    def __init__(self) -> None:
        super().__init__()
        self.verdicts: list[Verdict] = []

    def verdict(self, verdict: Verdict) -> None:
        self.verdicts.append(verdict)
