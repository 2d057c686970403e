"""Status periods, availability and uptime computed from reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.availability import Report, availability, periods

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_status_holds_until_the_next_and_the_window_opens_with_the_last_before() -> None:
    reports = [Report(at(-30), "Charging"), Report(at(20), "Available"), Report(at(90), "Faulted")]
    found = periods(reports, T0, at(60))
    assert [(p.status, p.seconds) for p in found] == [("Charging", 1200), ("Available", 2400)]


def test_before_the_first_report_a_connector_is_unknown_and_not_counted_in_uptime() -> None:
    result = availability(1, 1, [Report(at(15), "Available")], T0, at(60))
    assert result.seconds_by_status == {"Unknown": 900, "Available": 2700}
    assert result.availability == 0.75 and result.uptime == 1.0


def test_offline_beats_what_the_connector_last_said() -> None:
    reports = [Report(at(0), "Available")]
    liveness = [Report(at(10), "offline"), Report(at(25), "online")]
    result = availability(1, 1, reports, T0, at(60), liveness=liveness)
    assert [p.status for p in result.periods] == ["Available", "Offline", "Available"]
    assert result.uptime == 0.75 and result.availability == 0.75


def test_connector_0_faulted_takes_every_connector_with_it() -> None:
    reports = [Report(at(0), "Charging")]
    station = [Report(at(30), "Faulted"), Report(at(45), "Available")]
    result = availability(2, 2, reports, T0, at(60), station=station)
    assert result.seconds_by_status == {"Charging": 2700, "Faulted": 900}
    assert result.uptime == 0.75


def test_an_operator_unavailable_is_unavailable_but_not_down() -> None:
    reports = [Report(at(0), "Available"), Report(at(30), "Unavailable")]
    result = availability(1, 1, reports, T0, at(60))
    assert result.availability == 0.5 and result.uptime == 1.0


def test_out_of_order_reports_are_sorted_and_equal_neighbours_merged() -> None:
    reports = [Report(at(40), "Available"), Report(at(0), "Available"), Report(at(20), "Faulted")]
    found = periods(reports, T0, at(60))
    assert [(p.status, p.seconds) for p in found] == [
        ("Available", 1200),
        ("Faulted", 1200),
        ("Available", 1200),
    ]
    assert periods([Report(at(0), "Available"), Report(at(5), "Available")], T0, at(10)) == [
        periods([Report(at(0), "Available")], T0, at(10))[0]
    ]


def test_an_empty_window_has_no_periods() -> None:
    assert periods([Report(at(0), "Available")], at(10), at(10)) == []
