"""A smart-charged site end to end: vehicles arrive and leave over real WebSockets, the
site workflow re-plans and the stations receive (and lose) their charging profiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from activities.persistence.models import SiteCharging
from deploy.stack import Stack
from tests.deploy.conftest import api_client, eventually
from tests.deploy.live_stations import booted_station, next_profile, now_iso, tx_started

CONFIG = {
    "connection_kw": 15,
    "chargers": [
        {"station_id": "SC-A", "evse_id": 1, "max_kw": 11},
        {"station_id": "SC-B", "evse_id": 1, "max_kw": 11, "rate_unit": "A"},
    ],
    "prices": [{"start_hour": 0, "end_hour": 24, "price_per_kwh": 0.2}],
    "default_energy_kwh": 30,
    "default_stay_hours": 10,
}


def _tx16(request: dict[str, Any]) -> dict[str, Any]:
    profile: dict[str, Any] = request["csChargingProfiles"]
    return profile


async def test_profiles_follow_vehicles_arriving_and_leaving(stack: Stack) -> None:
    """Arrival: a TxProfile for the vehicle's transaction; a second arrival re-plans both
    within the 15 kW connection; a departure clears its profile and re-plans the rest."""
    async with api_client(stack) as http:
        assert (
            await http.post(
                "/sites",
                json={"id": "sc-depot", "name": "Depot", "price_per_kwh": "0.2", "currency": "EUR"},
            )
        ).status_code == 201
        seed = {"site_id": "sc-depot", "tokens": {"TAG-SC": "accepted"}}
        a = await booted_station(stack, "SC-A", "ocpp1.6", **seed)
        b = await booted_station(stack, "SC-B", "ocpp2.0.1", **seed)
        try:
            configured = await http.put("/sites/sc-depot/smart-charging", json=CONFIG)
            assert configured.status_code == 200, configured.text
            assert configured.json()["workflow_id"] == "site:sc-depot"

            started = await a.call(
                "StartTransaction",
                {"connectorId": 1, "idTag": "TAG-SC", "meterStart": 0, "timestamp": now_iso()},
            )
            tx_a = started["transactionId"]
            first = _tx16(await next_profile(a, "TxProfile"))
            assert first["transactionId"] == tx_a
            assert first["chargingSchedule"]["chargingRateUnit"] == "W"
            assert first["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] <= 11000

            await b.call(
                "TransactionEvent",
                tx_started("sc-b-1", "TAG-SC"),
            )
            on_b = (await next_profile(b, "TxProfile"))["chargingProfile"]
            assert on_b["transactionId"] == "sc-b-1"
            assert on_b["chargingSchedule"][0]["chargingRateUnit"] == "A"
            again_a = _tx16(await next_profile(a, "TxProfile"))
            first_a = again_a["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] / 1000
            first_b = on_b["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] * 0.69
            assert first_a + first_b <= 15 + 0.1  # the connection holds in the first slot

            await a.call(
                "StopTransaction",
                {"transactionId": tx_a, "meterStop": 1000, "timestamp": now_iso()},
            )
            # Only the planner's stack level: an operator's own TxProfile there stays.
            assert await a.next_command("ClearChargingProfile", timeout=30) == {
                "connectorId": 1,
                "chargingProfilePurpose": "TxProfile",
                "stackLevel": 1,
            }
            await next_profile(b, "TxProfile")

            async def plan_without_a() -> dict[str, Any] | None:
                plan = (await http.get("/sites/sc-depot/schedule")).json()
                return plan if set(plan.get("power_kw", {})) == {"SC-B#1"} else None

            plan = await eventually(plan_without_a, timeout=30)
            assert plan["peak_kw"] <= 15 + 1e-6
            assert a.failures == [] and b.failures == []

            what_if = await http.post(
                "/sites/sc-depot/what-if",
                json={
                    "vehicles": [
                        {
                            "station_id": "SC-A",
                            "energy_kwh": 20,
                            "departure": "2099-01-01T00:00:00Z",
                        },
                        {
                            "station_id": "SC-B",
                            "energy_kwh": 20,
                            "departure": "2099-01-01T00:00:00Z",
                        },
                    ]
                },
            )
            assert what_if.status_code == 200, what_if.text
            assert what_if.json()["shortfall_kwh"] == {}
            assert what_if.json()["peak_kw"] <= 15 + 1e-6
        finally:
            await a.close()
            await b.close()


async def test_configuration_is_checked(stack: Stack) -> None:
    """Unknown site, unknown station, unknown circuit, impossible values: 4xx with reasons."""
    async with api_client(stack) as http:
        assert (await http.put("/sites/nope/smart-charging", json=CONFIG)).status_code == 404
        await http.post(
            "/sites", json={"id": "sc-2", "name": "x", "price_per_kwh": "0.2", "currency": "EUR"}
        )
        unknown = await http.put("/sites/sc-2/smart-charging", json=CONFIG)
        assert unknown.status_code == 422 and "SC-A" in unknown.text
        bad = await http.put("/sites/sc-2/smart-charging", json={**CONFIG, "connection_kw": 0})
        assert bad.status_code == 422
        gap = await http.put(
            "/sites/sc-2/smart-charging",
            json={**CONFIG, "prices": [{"start_hour": 0, "end_hour": 12, "price_per_kwh": 0.2}]},
        )
        assert gap.status_code == 422 and "no price covers" in gap.text
        # Chargers left at 230 V on a 208Y/120 V network: the wiring mistake is named.
        wrong_volts = await http.put(
            "/sites/sc-2/smart-charging", json={**CONFIG, "phase_voltage_v": 120}
        )
        assert wrong_volts.status_code == 422 and "does not fit" in wrong_volts.text
        both = await http.put(
            "/sites/sc-2/smart-charging",
            json={**CONFIG, "connection_phase_limit_a": 100, "connection_phase_limit_kw": 23},
        )
        assert both.status_code == 422 and "not both" in both.text
        assert (await http.get("/sites/sc-2/schedule")).status_code == 404
        empty: httpx.Response = await http.post("/sites/sc-2/what-if", json={"vehicles": []})
        assert empty.status_code == 422


async def test_fleet_plan_request_chart_and_apply(stack: Stack) -> None:
    """A depot manager's fleet plan: schedules, cost against charging on arrival, a PNG
    chart; applied, its needs reach the site's smart charging."""
    async with api_client(stack) as http:
        await http.post(
            "/sites",
            json={"id": "fp-depot", "name": "x", "price_per_kwh": "0.2", "currency": "EUR"},
        )
        for station in ("FP-1", "FP-2"):
            body = {"id": station, "site_id": "fp-depot", "security_profile": 0}
            assert (await http.post("/stations", json=body)).status_code == 201
        config = {
            "connection_kw": 22,
            "chargers": [{"station_id": "FP-1"}, {"station_id": "FP-2"}],
            "prices": [
                {"start_hour": 23, "end_hour": 8, "price_per_kwh": 0.05},
                {"start_hour": 8, "end_hour": 23, "price_per_kwh": 0.25},
            ],
            "demand_charge_per_kw": 15.51,
        }
        assert (await http.put("/sites/fp-depot/smart-charging", json=config)).status_code == 200
        vans = [
            {
                "id": f"van-{i}",
                "battery_kwh": 75,
                "soc_now": 0.2,
                "soc_departure": 0.9,
                "arrival": "2030-01-01T18:00:00Z",
                "departure": "2030-01-02T07:00:00Z",
            }
            for i in range(2)
        ]
        made = await http.post(
            "/sites/fp-depot/fleet-plans",
            json={"vehicles": vans, "start": "2030-01-01T12:00:00Z", "apply": True},
        )
        assert made.status_code == 200, made.text
        plan = made.json()
        assert set(plan["vehicles"]) == {"van-0", "van-1"}
        assert {v["charger"] for v in plan["vehicles"].values()} == {"FP-1#1", "FP-2#1"}
        assert all(v["shortfall_kwh"] == 0 for v in plan["vehicles"].values())
        assert plan["saving"] > 0.2 and plan["peak_kw"] < plan["on_arrival"]["peak_kw"]
        chart = await http.get(f"/sites/fp-depot/fleet-plans/{plan['plan_id']}/chart.png")
        assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
        again = await http.get(f"/sites/fp-depot/fleet-plans/{plan['plan_id']}")
        assert again.json()["total_cost"] == plan["total_cost"]
        assert (await http.get("/sites/fp-depot/fleet-plans/nope")).status_code == 404
    async with stack.db.sessions() as session:
        row = await session.get(SiteCharging, "fp-depot")
        assert row is not None and row.fleet_needs is not None
        assert row.fleet_needs["FP-1#1"]["energy_kwh"] == pytest.approx(52.5)


async def test_ev_charging_needs_shape_the_plan(stack: Stack) -> None:
    """A 2.0.1 vehicle that reports 5 kWh and a departure in 2 hours gets a profile that
    delivers 5 kWh before then (not the site's default 30 kWh over 10 hours)."""
    async with api_client(stack) as http:
        await http.post(
            "/sites", json={"id": "ev-site", "name": "x", "price_per_kwh": "0.2", "currency": "EUR"}
        )
        station = await booted_station(
            stack, "EVN-1", "ocpp2.0.1", site_id="ev-site", tokens={"TAG-EV": "accepted"}
        )
        try:
            config = {**CONFIG, "chargers": [{"station_id": "EVN-1", "max_kw": 11}]}
            assert (await http.put("/sites/ev-site/smart-charging", json=config)).status_code == 200
            leaves = (datetime.now(UTC) + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
            answer = await station.call(
                "NotifyEVChargingNeeds",
                {
                    "evseId": 1,
                    "chargingNeeds": {
                        "requestedEnergyTransfer": "AC_three_phase",
                        "departureTime": leaves,
                        "acChargingParameters": {
                            "energyAmount": 5000,
                            "evMinCurrent": 6,
                            "evMaxCurrent": 16,
                            "evMaxVoltage": 400,
                        },
                    },
                },
            )
            assert answer["status"] == "Accepted"
            await station.call(
                "TransactionEvent",
                tx_started("evn-1", "TAG-EV"),
            )
            profile = (await next_profile(station, "TxProfile"))["chargingProfile"]
            schedule = profile["chargingSchedule"][0]
            periods = schedule["chargingSchedulePeriod"]
            ends = [p["startPeriod"] for p in periods[1:]] + [schedule["duration"]]
            energy_kwh = sum(
                p["limit"] * (end - p["startPeriod"]) / 3600 / 1000
                for p, end in zip(periods, ends, strict=True)
            )
            assert energy_kwh == pytest.approx(5, abs=0.05)
            assert (
                sum(p["limit"] for p in periods if p["startPeriod"] >= 2 * 3600 + 15 * 60) == 0
            ), "nothing planned after the departure"
        finally:
            await station.close()


async def test_a_car_that_pauses_gives_its_capacity_to_the_others(stack: Stack) -> None:
    """A 2.0.1 car alone on 12 kW gets its 11 kW. It reports SuspendedEV (full, or
    paused itself): the site re-plans at once and offers it only the pilot's minimum
    (6 A on three phases), so the next car gets the rest instead of 1 kW."""
    async with api_client(stack) as http:
        await http.post(
            "/sites",
            json={"id": "pause-site", "name": "x", "price_per_kwh": "0.2", "currency": "EUR"},
        )
        seed = {"site_id": "pause-site", "tokens": {"TAG-P": "accepted"}}
        a = await booted_station(stack, "PA-1", "ocpp2.0.1", **seed)
        b = await booted_station(stack, "PA-2", "ocpp2.0.1", **seed)
        try:
            config = {
                **CONFIG,
                "connection_kw": 12,
                "chargers": [
                    {"station_id": "PA-1", "max_kw": 11, "rate_unit": "W"},
                    {"station_id": "PA-2", "max_kw": 11, "rate_unit": "W"},
                ],
            }
            assert (
                await http.put("/sites/pause-site/smart-charging", json=config)
            ).status_code == 200

            def first_limit(request: dict[str, Any]) -> float:
                schedule = request["chargingProfile"]["chargingSchedule"][0]
                return float(schedule["chargingSchedulePeriod"][0]["limit"])

            await a.call("TransactionEvent", tx_started("pa-1", "TAG-P"))
            assert first_limit(await next_profile(a, "TxProfile")) == pytest.approx(11000)
            paused = {
                "eventType": "Updated",
                "timestamp": now_iso(),
                "triggerReason": "ChargingStateChanged",
                "seqNo": 1,
                "transactionInfo": {"transactionId": "pa-1", "chargingState": "SuspendedEV"},
                "evse": {"id": 1, "connectorId": 1},
            }
            await a.call("TransactionEvent", paused)
            # Re-planned without any session starting or ending: the pilot's minimum.
            assert first_limit(await next_profile(a, "TxProfile")) == pytest.approx(4140, abs=1)
            await b.call("TransactionEvent", tx_started("pa-2", "TAG-P"))
            assert first_limit(await next_profile(b, "TxProfile")) >= 7000
            assert a.failures == [] and b.failures == []
        finally:
            await a.close()
            await b.close()


async def test_TC_059_a_remote_start_at_a_smart_charged_site_carries_the_planners_share(
    stack: Stack,
) -> None:
    """K05 / TC_059: at a smart-charged site a remote start without a profile of the
    operator's carries the TxProfile the planner gives a car arriving there (the
    planner's stack level and TxProfile id, so the first plan with the car replaces
    it), within the connection and the charger's rating."""
    site, ident = "sc-start", "SC-START"
    async with api_client(stack) as http:
        made = await http.post(
            "/sites", json={"id": site, "name": "Start", "price_per_kwh": "0.2", "currency": "EUR"}
        )
        assert made.status_code == 201
        station = await booted_station(stack, ident, "ocpp1.6", site_id=site)
        try:
            config = {**CONFIG, "chargers": [{"station_id": ident, "evse_id": 1, "max_kw": 11}]}
            assert (await http.put(f"/sites/{site}/smart-charging", json=config)).status_code == 200
            started = await http.post(
                f"/stations/{ident}/commands/remote-start",
                json={"id_token": "TAG-SC", "connector_id": 1},
                params={"start_timeout_s": 5},
            )
            assert started.status_code == 200, started.text
            sent = await station.next_command("RemoteStartTransaction")
        finally:
            await station.close()
    carried = sent["chargingProfile"]
    assert carried["chargingProfilePurpose"] == "TxProfile"
    assert (carried["stackLevel"], carried["chargingProfileId"]) == (1, 101)
    assert carried["chargingProfileKind"] == "Absolute"
    periods = carried["chargingSchedule"]["chargingSchedulePeriod"]
    assert 0 < periods[0]["limit"] <= 11000 and all(p["limit"] <= 11000 for p in periods)


async def test_TC_K_an_ems_limit_at_the_station_caps_its_plan_until_cleared(stack: Stack) -> None:
    """NotifyChargingLimit (an EMS, with its schedule) is answered and makes the site
    plan again within it; ClearedChargingLimit lifts it."""
    site, ident = "sc-ems", "SC-EMS"
    async with api_client(stack) as http:
        made = await http.post(
            "/sites", json={"id": site, "name": "EMS", "price_per_kwh": "0.2", "currency": "EUR"}
        )
        assert made.status_code == 201
        station = await booted_station(
            stack, ident, "ocpp2.0.1", site_id=site, tokens={"TAG-EMS": "accepted"}
        )
        try:
            config = {**CONFIG, "chargers": [{"station_id": ident, "evse_id": 1, "max_kw": 11}]}
            assert (await http.put(f"/sites/{site}/smart-charging", json=config)).status_code == 200
            await station.call("TransactionEvent", tx_started("ems-1", "TAG-EMS"))

            def first_limit(request: dict[str, Any]) -> float:
                schedule = request["chargingProfile"]["chargingSchedule"][0]
                return float(schedule["chargingSchedulePeriod"][0]["limit"])

            assert first_limit(await next_profile(station, "TxProfile")) > 10000
            limit = {
                "chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": False},
                "evseId": 1,
                "chargingSchedule": [
                    {
                        "id": 1,
                        "startSchedule": now_iso(),
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 5000.0}],
                    }
                ],
            }
            assert await station.call("NotifyChargingLimit", limit) == {}
            assert first_limit(await next_profile(station, "TxProfile")) <= 5000
            cleared = {"chargingLimitSource": "EMS", "evseId": 1}
            assert await station.call("ClearedChargingLimit", cleared) == {}
            assert first_limit(await next_profile(station, "TxProfile")) > 10000
        finally:
            await station.close()
