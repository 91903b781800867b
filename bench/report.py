"""The bench's results: one row per figure, each beside its floor or peer, judged against its target.

A row starts empty (what it measures, its unit, its target) and is filled by a
measurement, or marked as failed with the error. The table is for people; the
final JSON line holds the same rows for scripts.
"""

import json
import operator
from dataclasses import dataclass, field

_OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}
_SYMBOL = {"<=": "≤", ">=": "≥", "==": "="}


@dataclass(frozen=True)
class Target:
    """A target on one of a row's values: ``figure``, ``ratio`` (figure / floor) or ``excess`` (figure - floor)."""

    on: str
    op: str
    limit: float
    unit: str = ""

    def text(self) -> str:
        if self.on == "ratio":
            return f"{_SYMBOL[self.op]} {self.limit:g}×"
        if self.on == "excess":
            return f"{_SYMBOL[self.op]} +{self.limit:g} {self.unit}"
        return f"{_SYMBOL[self.op]} {self.limit:,g} {self.unit}"

    def met(self, row: "Row") -> bool | None:
        value = {"figure": row.figure, "ratio": row.ratio, "excess": row.excess}[self.on]
        return None if value is None else _OPS[self.op](value, self.limit)


@dataclass
class Row:
    """One measured figure, its floor or peer from the same run, and whether it meets its target."""

    id: str
    title: str
    unit: str
    target: Target
    floor_title: str = ""
    figure: float | None = None
    floor: float | None = None
    details: dict = field(default_factory=dict)
    error: str | None = None
    skipped: str | None = None  # why the row was not measured on this machine (not a failure)

    def fill(self, figure: float, floor: float | None = None, /, **details) -> None:
        self.figure, self.floor = figure, floor
        self.details.update(details)

    def fail(self, error: str) -> None:
        self.error = error

    def skip(self, reason: str) -> None:
        self.skipped = reason

    @property
    def ratio(self) -> float | None:
        if self.figure is None or not self.floor:
            return None
        return self.figure / self.floor

    @property
    def excess(self) -> float | None:
        if self.figure is None or self.floor is None:
            return None
        return self.figure - self.floor

    @property
    def status(self) -> str:
        if self.error:
            return "ERROR"
        if self.skipped:
            return "SKIPPED"
        met = self.target.met(self)
        if met is None:
            return "SKIPPED" if self.figure is None else "ERROR"
        return "PASS" if met else "MISS"

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "figure": _round(self.figure),
            "unit": self.unit,
            "floor": _round(self.floor),
            "floor_is": self.floor_title or None,
            "ratio": _round(self.ratio),
            "target": {
                "on": self.target.on,
                "op": self.target.op,
                "limit": self.target.limit,
                "text": self.target.text(),
            },
            "pass": {"PASS": True, "MISS": False}.get(self.status),
            "status": self.status,
            "details": self.details,
            "error": self.error,
            "skipped": self.skipped,
        }


def _round(value: float | None) -> float | None:
    if value is None:
        return None
    return round(value, 4) if abs(value) < 100 else round(value, 1)


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def table(rows: list[Row]) -> str:
    """The results as an aligned text table, then one line of details per row."""
    header = ["measurement", "figure", "floor / peer (same run)", "ratio", "target", "result"]
    lines = [header]
    for row in rows:
        floor = f"{row.floor_title}: {_number(row.floor, row.unit)}" if row.floor is not None else "—"
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}×"
        if row.target.on == "excess" and row.excess is not None:
            ratio += f" (+{row.excess:.3f} {row.unit})"
        lines.append([row.title, _number(row.figure, row.unit), floor, ratio, row.target.text(), row.status])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rule = "  ".join("-" * w for w in widths)
    text = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)).rstrip() for line in lines]
    text.insert(1, rule)
    text.append(rule)
    text.append("")
    for row in rows:
        if row.error:
            text.append(f"{row.id}: ERROR {row.error}")
        elif row.skipped:
            text.append(f"{row.id}: SKIPPED {row.skipped}")
        elif row.details:
            text.append(f"{row.id}: " + ", ".join(f"{k}={_detail(v)}" for k, v in row.details.items()))
    return "\n".join(text)


def _detail(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_detail(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def json_line(rows: list[Row], **top) -> str:
    """The one final JSON line: every row keyed by id, plus the counts of PASS, MISS and ERROR."""
    statuses = [row.status for row in rows]
    document = {
        "bench": "paylink",
        **top,
        "results": {row.id: row.as_dict() for row in rows},
        "passed": statuses.count("PASS"),
        "missed": statuses.count("MISS"),
        "errors": statuses.count("ERROR"),
        "skipped": statuses.count("SKIPPED"),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
