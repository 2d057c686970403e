"""Properties of the pricing engine over generated tariffs and sessions (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from activities.billing.currencies import quantum
from activities.billing.pricing import ZERO, compile_tariff, price_usage
from activities.billing.tariffs import WEEKDAYS, Tariff, TariffError, parse_tariff
from activities.billing.timeline import (
    Activity,
    MeterSample,
    SessionTimeline,
    StatusChange,
    price_session,
    session_usages,
)

ZONES = ("Europe/Amsterdam", "America/New_York", "Asia/Tokyo", "UTC")


# Price levels per currency, so a generated tariff is plausible money: a euro, a
# hundred yen and a fifth of a dinar buy about the same.
SCALE = {"EUR": Decimal(1), "JPY": Decimal(100), "KWD": Decimal("0.2")}


def _money(top: int, currency: str = "EUR") -> st.SearchStrategy[str]:
    return st.integers(0, top * 100).map(lambda cents: f"{Decimal(cents) / 100 * SCALE[currency]}")


@st.composite
def restrictions(draw: st.DrawFn) -> dict[str, Any]:
    """A random set of OCPI restrictions (possibly none)."""
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        start, end = draw(st.integers(0, 23)), draw(st.integers(0, 23))
        out["start_time"] = f"{start:02d}:{draw(st.sampled_from([0, 30])):02d}"
        out["end_time"] = f"{end:02d}:00"
    if draw(st.booleans()):
        out["day_of_week"] = sorted(
            draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1, max_size=6)), key=WEEKDAYS.index
        )
    if draw(st.booleans()):
        low = draw(st.integers(0, 30))
        out["min_kwh"] = low
        if draw(st.booleans()):
            out["max_kwh"] = low + draw(st.integers(1, 30))
    if draw(st.booleans()):
        out["max_duration"] = draw(st.integers(60, 4 * 3600))
        if draw(st.booleans()):
            out["min_duration"] = draw(st.integers(0, out["max_duration"] - 1))
    return out


@st.composite
def tariffs(draw: st.DrawFn, *, splittable: bool) -> Tariff:
    """A tariff that reads; ``splittable`` ones have no per-session parts (FLAT, steps,
    min/max price) so that pricing a session in two halves can agree with pricing it
    whole."""
    kinds = ["ENERGY", "TIME", "PARKING_TIME"] + ([] if splittable else ["FLAT"])
    currency = draw(st.sampled_from(sorted(SCALE)))
    elements = []
    for _ in range(draw(st.integers(0, 3))):
        chosen = draw(st.sets(st.sampled_from(kinds), min_size=1))
        elements.append(
            {
                "price_components": [
                    _component(draw, kind, splittable, currency) for kind in sorted(chosen)
                ],
                "restrictions": draw(restrictions()),
            }
        )
    fallback = draw(st.sets(st.sampled_from(kinds), min_size=1))
    elements.append(
        {
            "price_components": [
                _component(draw, kind, splittable, currency) for kind in sorted(fallback)
            ]
        }
    )
    data: dict[str, Any] = {
        "id": "T",
        "currency": currency,
        "elements": elements,
    }
    if not splittable and draw(st.booleans()):
        data["min_price"] = {"excl_vat": draw(_money(3, currency))}
    if not splittable and draw(st.booleans()):
        data["max_price"] = {"excl_vat": draw(_money(40, currency))}
    try:
        grace = 0 if splittable else draw(st.sampled_from([0, 600, 1800]))
        return parse_tariff(data, parking_grace_s=grace)
    except TariffError:
        assume(False)
        raise


def _component(draw: st.DrawFn, kind: str, splittable: bool, currency: str) -> dict[str, Any]:
    top = {"ENERGY": 1, "TIME": 10, "PARKING_TIME": 10, "FLAT": 5}[kind]
    out: dict[str, Any] = {"type": kind, "price": draw(_money(top, currency))}
    vat = draw(st.sampled_from([None, 0, 9, 21]))
    if vat is not None:
        out["vat"] = vat
    out["step_size"] = 1 if splittable else draw(st.sampled_from([1, 60, 300, 500, 900]))
    return out


@st.composite
def timelines(draw: st.DrawFn) -> SessionTimeline:
    """A session of a few activities with meter samples at a varying pace."""
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
        minutes=draw(st.integers(0, 365 * 24 * 60))
    )
    moment = start
    changes = []
    for _ in range(draw(st.integers(1, 5))):
        changes.append(StatusChange(moment, draw(st.sampled_from(list(Activity)))))
        moment += timedelta(seconds=draw(st.integers(30, 3 * 3600)))
    stop = moment
    span = int((stop - start).total_seconds())
    offsets = sorted(draw(st.sets(st.integers(1, max(1, span - 1)), max_size=12)))
    energy = Decimal(draw(st.integers(0, 100_000)))
    samples = []
    for offset in offsets:
        energy += Decimal(draw(st.integers(0, 6_000)))
        samples.append(MeterSample(start + timedelta(seconds=offset), energy))
    return SessionTimeline(
        start=start,
        stop=stop,
        meter_start_wh=Decimal(0) if not samples else None,
        meter_stop_wh=energy + Decimal(draw(st.integers(0, 3000))),
        samples=samples,
        statuses=changes,
        time_zone=draw(st.sampled_from(ZONES)),
    )


SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


@SETTINGS
@given(tariffs(splittable=False), timelines())
def test_the_total_is_the_sum_of_the_lines(tariff: Tariff, timeline: SessionTimeline) -> None:
    """Whatever the tariff, the lines add up to the total exactly, excl. and incl. VAT,
    and every amount is in whole minor units of the currency."""
    priced = price_session(tariff, timeline)
    unit = quantum(tariff.currency)
    assert sum((line.excl_vat for line in priced.lines), ZERO) == priced.total.excl_vat
    assert sum((line.incl_vat for line in priced.lines), ZERO) == priced.total.incl_vat
    for line in priced.lines:
        assert line.excl_vat % unit == 0 and line.incl_vat % unit == 0
        assert line.vat == line.incl_vat - line.excl_vat
        assert abs(line.excl_vat - line.exact_excl_vat) < len(priced.lines) * unit
    assert priced.total.excl_vat >= 0 or tariff.max_price is not None


@SETTINGS
@given(tariffs(splittable=True), timelines(), st.floats(0.001, 0.999))
def test_splitting_a_session_in_two_changes_the_total_by_at_most_one_unit(
    tariff: Tariff, timeline: SessionTimeline, where: float
) -> None:
    """Pricing a session as two halves (the second continuing the first's energy and
    duration), cut at any second, gives the whole session's total to within one
    rounding unit. (Step sizes of 1 still round each half's fractional Wh up.)"""
    compiled = compile_tariff(tariff)
    found = session_usages(compiled, timeline)
    first, last = found.usages[0].start, found.usages[-1].end
    at = first + int((last - first) * where) // 1000 * 1000
    assume(first < at < last)
    left, right = [], []
    for usage in found.usages:
        if usage.end <= at:
            left.append(usage)
        elif usage.start >= at:
            right.append(usage)
        else:
            head, tail = found.cutter.cut(usage, at)
            left.append(head)
            right.append(tail)
    common = {
        "time_zone": timeline.time_zone,
        "session_start": found.session_start,
        "cutter": found.cutter,
    }
    whole = price_usage(compiled, found.usages, **common)  # type: ignore[arg-type]
    before = price_usage(compiled, left, **common)  # type: ignore[arg-type]
    after = price_usage(
        compiled,
        right,
        energy_before_wh=sum((u.energy_wh for u in left), ZERO),
        **common,  # type: ignore[arg-type]
    )
    unit = quantum(tariff.currency)
    assert abs(before.total.excl_vat + after.total.excl_vat - whole.total.excl_vat) <= unit
    assert before.total.incl_vat is not None and after.total.incl_vat is not None
    assert whole.total.incl_vat is not None
    assert abs(before.total.incl_vat + after.total.incl_vat - whole.total.incl_vat) <= unit
