"""The summary of one reconciliation run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from reconciliation.matching_types import Category


@dataclass(slots=True)
class RunReport:
    """What one run found; ``as_json`` is the CLI's ``--json`` summary."""

    run_id: int
    day: date
    account: str
    status: str
    counts: Counter[str] = field(default_factory=Counter)  # "payment:matched" -> n
    settled: int = 0

    def categories(self) -> dict[str, int]:
        """Count items per category, all kinds together."""
        totals: Counter[str] = Counter({category.value: 0 for category in Category})
        for key, count in self.counts.items():
            totals[key.partition(":")[2]] += count
        return dict(totals)

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready values."""
        return {
            "run_id": self.run_id,
            "day": self.day.isoformat(),
            "account": self.account,
            "status": self.status,
            "categories": self.categories(),
            "by_kind": dict(sorted(self.counts.items())),
            "settled": self.settled,
        }
