"""Schedules as OCPP charging profiles: conversion round trips, schema validity, and the
composite limits the chargers end up with staying within the capacity tree."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gateway import commands2, commands16, schemas
from optimizer import profiles as pr
from optimizer.lp import solve
from optimizer.problem import Charger, Circuit, SiteProblem, Tariff, Vehicle

START = datetime(2030, 1, 1, 18, tzinfo=UTC)


def depot() -> SiteProblem:
    """Three chargers (two single-phase on L1, one three-phase) under a feeder with
    phase limits, 8 slots of 15 minutes, cheaper later."""
    return SiteProblem(
        slot_hours=0.25,
        slots=8,
        circuits=[Circuit("site", 30), Circuit("feeder", 20, "site", phase_limit_kw=6)],
        chargers=[
            Charger("A", "feeder", 7.4, "L1"),
            Charger("B", "feeder", 7.4, "L1"),
            Charger("C", "feeder", 11, "L123"),
        ],
        vehicles=[
            Vehicle("ev-a", "A", 0, 8, 6, 7.4),
            Vehicle("ev-b", "B", 1, 7, 5, 7.4),
            Vehicle("ev-c", "C", 0, 8, 12, 11),
        ],
        tariff=Tariff([0.3, 0.3, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1], demand_charge_per_kw=1.0),
    )


SETUPS_W = {
    "A": pr.ChargerSetup("ST-1", 1, "W", 1),
    "B": pr.ChargerSetup("ST-1", 2, "W", 1),
    "C": pr.ChargerSetup("ST-2", 1, "W", 3),
}
SETUPS_A = {k: replace(v, rate_unit="A") for k, v in SETUPS_W.items()}


@pytest.mark.parametrize("setups", [SETUPS_W, SETUPS_A], ids=["watts", "amperes"])
def test_profiles_keep_the_tree_within_limits(setups: dict[str, pr.ChargerSetup]) -> None:
    """The composite limits of the planned profiles break no circuit or phase limit."""
    problem = depot()
    schedule = solve(problem)
    plan = pr.plan_profiles(problem, schedule, setups, START)
    assert pr.check(problem, plan, setups, START) == []
    assert {p.purpose for p in plan.by_station["ST-1"]} == {"TxProfile", "StationMax"}


def test_the_checker_catches_a_profile_above_the_plan() -> None:
    """Raise one TxProfile to the charger's rating: the phase limit breaks, and it says so."""
    problem = depot()
    plan = pr.plan_profiles(problem, solve(problem), SETUPS_W, START)
    loose = plan.by_station["ST-1"][0]
    plan.by_station["ST-1"][0] = replace(loose, periods=[pr.Period(0, 7400.0)])
    found = pr.check(problem, plan, SETUPS_W, START)
    assert any("feeder L1" in v for v in found), found


@pytest.mark.parametrize(("version", "encode", "decode"), [
    ("1.6", commands16.charging_profile, commands16.parse_charging_profile),
    ("2.0.1", commands2.charging_profile, commands2.parse_charging_profile),
    ("2.1", commands2.charging_profile, commands2.parse_charging_profile),
])  # fmt: skip
def test_round_trip_and_schemas(version: str, encode: object, decode: object) -> None:
    """Every planned profile, encoded by the gateway's codec of each version, is a
    schema-valid SetChargingProfile and decodes to the same neutral profile."""
    problem = depot()
    plan = pr.plan_profiles(problem, solve(problem), SETUPS_A, START)
    for station in plan.by_station.values():
        for profile in station:
            request = encode(profile)  # type: ignore[operator]
            schemas.validate(version, "SetChargingProfile", request, response=False, message_id="t")
            assert decode(request) == profile  # type: ignore[operator]


def test_stack_levels_and_station_maximum() -> None:
    """The highest stack level in force wins within a purpose; the lowest purpose wins."""
    low = pr.ChargingProfile(1, "TxProfile", 1, 1, START, 3600, "W", [pr.Period(0, 5000)])
    high = pr.ChargingProfile(2, "TxProfile", 2, 1, START, 1800, "W", [pr.Period(0, 9000)])
    cap = pr.ChargingProfile(3, "StationMax", 0, 0, START, 7200, "W", [pr.Period(0, 7000)])
    during = START.replace(minute=10)
    after = START.replace(minute=40)
    assert pr.composite([low, high], 1, during, 11000) == 9000
    assert pr.composite([low, high], 1, after, 11000) == 5000
    assert pr.composite([low, high, cap], 1, during, 11000) == 7000
    assert pr.composite([], 1, during, 11000) == 11000


def test_limits_round_down() -> None:
    """Converting to W or A never rounds a limit up."""
    assert pr.to_unit(7.3999, "W", 1) == 7399
    assert pr.to_unit(11.0, "A", 3) == 15.9  # 15.94 A per phase
    assert pr.from_unit(pr.to_unit(3.3, "A", 1), "A", 1) <= 3.3


def test_a_lower_limit_starts_before_its_slot_so_the_car_has_followed_by_then() -> None:
    """Up at the slot's start, down five seconds before it (IEC 61851-1's response
    time): the slot's limit holds from its first second."""
    setup = pr.ChargerSetup("ST-1", 1, "W", 3)
    profile = pr.tx_profile([11.0, 4.0, 4.0, 11.0, 0.0], setup, START, 900, 1)
    assert [(p.start_s, p.limit) for p in profile.periods] == [
        (0, 11000.0),
        (895, 4000.0),
        (2700, 11000.0),
        (3595, 0.0),
    ]
