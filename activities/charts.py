"""PNG charts for depot managers: planned load against limits and prices."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta

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
