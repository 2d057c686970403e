"""PNG charts: for depot managers, planned load against limits and prices; for
utilities, an event's measured demand against its limit and baselines."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to memory

import matplotlib.dates as mdates
import matplotlib.pyplot as plt


def load_chart(
    start: datetime,
    slot_minutes: int,
    planned_kw: Sequence[float],
    limit_kw: Sequence[float],
    price_per_kwh: Sequence[float],
    *,
    on_arrival_kw: Sequence[float] | None = None,
    title: str = "Planned load",
) -> bytes:
    """The site's planned load (and charging on arrival, if given) against its limit,
    with the energy price on a second axis, as PNG bytes."""
    times = mdates.date2num(
        [start + timedelta(minutes=slot_minutes * t) for t in range(len(planned_kw))]
    )
    figure, load_axis = plt.subplots(figsize=(10, 4.5), dpi=100)
    try:
        load_axis.step(times, planned_kw, where="post", label="planned load", linewidth=2)
        if on_arrival_kw is not None:
            load_axis.step(
                times, on_arrival_kw, where="post", label="charging on arrival", linestyle="--"
            )
        load_axis.step(times, limit_kw, where="post", label="site limit", color="red")
        load_axis.set_ylabel("kW")
        load_axis.set_ylim(bottom=0)
        price_axis = load_axis.twinx()
        price_axis.step(times, price_per_kwh, where="post", color="grey", alpha=0.5, label="price")
        price_axis.set_ylabel("price per kWh")
        price_axis.set_ylim(bottom=0)
        load_axis.xaxis_date()
        load_axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        lines = load_axis.get_legend_handles_labels()
        extra = price_axis.get_legend_handles_labels()
        load_axis.legend(lines[0] + extra[0], lines[1] + extra[1], loc="upper right")
        load_axis.set_title(title)
        figure.autofmt_xdate()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def compliance_chart(report: dict[str, Any]) -> bytes:
    """An OpenADR 3 compliance report as PNG bytes: per site, the demand in each
    interval against the limit and the two baselines (plan without the event, like
    days)."""
    resources = report.get("resources") or []
    rows = max(1, len(resources))
    figure, axes = plt.subplots(rows, 1, figsize=(10, 3.2 * rows), dpi=100, squeeze=False)
    try:
        for axis, resource in zip(axes[:, 0], resources, strict=False):
            intervals = resource.get("intervals") or []
            axis.set_title(resource.get("resourceName", ""), loc="left")
            axis.set_ylabel("kW")
            if not intervals:
                continue
            starts = [datetime.fromisoformat(i["intervalPeriod"]["start"]) for i in intervals]
            last = intervals[-1]["intervalPeriod"]["duration"]
            edges = [*starts, starts[-1] + timedelta(seconds=_seconds(last))]
            times = mdates.date2num(edges)
            styles: list[tuple[str, str, dict[str, Any]]] = [
                ("DEMAND", "demand", {"linewidth": 2}),
                ("IMPORT_CAPACITY_LIMIT", "limit", {"color": "red"}),
                ("BASELINE", "baseline: plan without the event", {"linestyle": "--"}),
                ("BASELINE_X_OF_Y", "baseline: like days", {"linestyle": ":"}),
            ]
            for kind, label, style in styles:
                values = [_value(i, kind) for i in intervals]
                if all(math.isnan(v) for v in values):
                    continue
                axis.step(times, [*values, values[-1]], where="post", label=label, **style)
            axis.set_ylim(bottom=0)
            axis.xaxis_date()
            axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
            axis.legend(loc="upper right", fontsize="small")
        figure.suptitle(str(report.get("reportName", "compliance")))
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(figure)


def _value(interval: dict[str, Any], kind: str) -> float:
    for payload in interval.get("payloads") or []:
        if payload.get("type") == kind and payload.get("values"):
            value = payload["values"][0]
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
    return math.nan


def _seconds(duration: str) -> float:
    # The reports write durations as PT<seconds>S.
    return float(duration.removeprefix("PT").removesuffix("S"))
