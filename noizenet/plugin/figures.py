"""Figures: the numbers a run reports, each declared once by whoever computes it
(the core, an output kind, a metric plugin). The report, `compare` and the CLI's
summary list what is declared; they know no figure by name."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Figure:
    """A number that a run reports, declared once by whoever computes it.

    ``key`` is its name in metrics.json (unique in a run); ``label`` the words for
    the report; ``unit`` e.g. "nats/token"; ``better`` "higher", "lower" or ""
    (neither); ``headline`` figures open the report and `compare`, and close the
    CLI's summary; ``format`` is a ``str.format`` pattern for one value.
    """

    key: str
    label: str
    unit: str = ""
    better: Literal["higher", "lower", ""] = ""
    headline: bool = False
    format: str = "{:.4g}"

    def show(self, value: Any) -> str:
        """``value`` as the report prints it ("-" for None)."""
        if value is None:
            return "-"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return str(value)
        return self.format.format(value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
