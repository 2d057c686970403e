"""The firmware catalogue and campaigns through the API: bad input refused with a reason
before anything starts, and a campaign run, watched, paused, resumed and cancelled on
a real Temporal server (the worker's real workflows; chargers scripted by the
gateway node of :mod:`tests.workflows.firmware_node`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.firmware import MAX_TARGETS
from activities.persistence.database import Database
from activities.persistence.models import Station
from activities.temporal_link import TemporalLink
from api.app import create_app
from deploy.worker import build_worker
from tests.conftest import unique
from tests.helpers import seed_transaction
from tests.workflows.firmware_node import FirmwareNode, seed_fleet
from workflows.firmware import ALLOW_NEW_SESSIONS

OPERATOR, VIEWER = "op-key", "view-key"
SHA = "ab" * 32


def _image(image_id: str, version: str = "2.0", **extra: Any) -> dict[str, Any]:
    return {
        "id": image_id,
        "vendor": "Acme",
        "models": ["AC-22"],
        "version": version,
        "location": f"https://firmware.example/{image_id}.bin",
        "sha256": SHA,
        **extra,
    }


@pytest.fixture
async def offline_api(sqlite_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The API with Temporal unreachable: what it refuses, it refuses before Temporal."""
    app = create_app(
        sqlite_db, TemporalLink("127.0.0.1:1"), {OPERATOR: "operator", VIEWER: "viewer"}
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api",
        headers={"X-API-Key": OPERATOR},
    ) as client:
        yield client


async def test_the_catalogue_keeps_images_and_refuses_bad_ones(
    offline_api: httpx.AsyncClient,
) -> None:
    image_id = unique("img")
    created = await offline_api.post("/firmware", json=_image(image_id, signature="c2ln"))
    assert created.status_code == 422, created.text
    assert "signing certificate" in created.text
    created = await offline_api.post("/firmware", json=_image(image_id))
    assert created.status_code == 201, created.text
    assert created.json()["signed"] is False
    again = await offline_api.post("/firmware", json=_image(image_id))
    assert again.status_code == 409
    for bad, why in (
        ({"sha256": "zz" * 32}, "hexadecimal"),
        ({"sha256": "ab"}, "sha256"),
        ({"location": "file:///etc/passwd"}, "must be a URL"),
        ({"models": []}, "models"),
    ):
        answer = await offline_api.post("/firmware", json=_image(unique("img"), **bad))
        assert answer.status_code == 422 and why in answer.text, (bad, answer.text)
    viewer = {"X-API-Key": VIEWER}
    listed = await offline_api.get("/firmware", headers=viewer)
    assert image_id in [i["id"] for i in listed.json()]
    assert (
        await offline_api.post("/firmware", json=_image(unique("i")), headers=viewer)
    ).status_code == 403
    assert (await offline_api.get("/firmware/nope", headers=viewer)).status_code == 404


async def test_standing_names_the_stations_not_on_the_recommended_version(
    offline_api: httpx.AsyncClient, sqlite_db: Database
) -> None:
    model = unique("M")
    stations = await seed_fleet(sqlite_db, None, {unique("s"): 3}, model=model)
    image_id = unique("img")
    body = {**_image(image_id, "0.9"), "models": [model]}
    assert (await offline_api.post("/firmware", json=body)).status_code == 201
    changed = await offline_api.patch(f"/firmware/{image_id}", json={"recommended": True})
    assert changed.json()["recommended"] is True
    standing = {
        (s["vendor"], s["model"]): s for s in (await offline_api.get("/firmware/standing")).json()
    }
    assert standing[("Acme", model)]["outdated"] == []  # all on 0.9
    newer = unique("img")
    body = {**_image(newer, "1.0"), "models": [model], "recommended": True}
    assert (await offline_api.post("/firmware", json=body)).status_code == 201
    standing = {
        (s["vendor"], s["model"]): s for s in (await offline_api.get("/firmware/standing")).json()
    }
    mine = standing[("Acme", model)]
    assert (mine["recommended_version"], mine["stations"]) == ("1.0", 3)
    assert sorted(o["station_id"] for o in mine["outdated"]) == sorted(stations)


async def test_rollouts_refuse_bad_input_with_a_reason(
    offline_api: httpx.AsyncClient, sqlite_db: Database
) -> None:
    site = unique("s")
    stations = await seed_fleet(sqlite_db, None, {site: 2})
    other = await seed_fleet(sqlite_db, None, {unique("s"): 1}, model="DC-150")
    image_id = unique("img")
    assert (await offline_api.post("/firmware", json=_image(image_id))).status_code == 201
    twin = unique("img")
    assert (await offline_api.post("/firmware", json=_image(twin, "2.1"))).status_code == 201
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"image_id": "nope", "canary_count": 1}, 404, "not found"),
        (
            {"image_id": image_id, "other_image_ids": ["nope"], "canary_count": 1},
            404,
            "not found",
        ),
        (
            {"image_id": image_id, "other_image_ids": [twin], "canary_count": 1},
            422,
            f"images {image_id} and {twin} are both made for Acme AC-22",
        ),
        (
            {"image_id": image_id, "other_image_ids": [image_id], "canary_count": 1},
            422,
            "named twice",
        ),
        (
            {"image_id": image_id, "targets": {"station_ids": other}, "canary_count": 1},
            422,
            "does not fit",
        ),
        (
            {"image_id": image_id, "targets": {"station_ids": ["ghost"]}, "canary_count": 1},
            422,
            "unknown stations: ghost",
        ),
        (
            {"image_id": image_id, "targets": {"site_ids": ["no-such-site"]}, "canary_count": 1},
            422,
            "no station to update",
        ),
        (
            {"image_id": image_id, "targets": {"site_ids": [site]}},
            422,
            "exactly one of canary_count and canary_share",
        ),
        ({"image_id": image_id, "canary_count": 1, "canary_share": 0.1}, 422, "exactly one"),
        ({"image_id": image_id, "canary_count": 1, "growth_factor": 1}, 422, "growth_factor"),
        ({"image_id": image_id, "canary_count": 0}, 422, "canary_count"),
        (
            {
                "image_id": image_id,
                "canary_count": 1,
                "windows": [{"start": "25:00", "end": "02:00"}],
            },
            422,
            "not a time of day",
        ),
        (
            {"image_id": image_id, "canary_count": 1, "abort_shares": {"install_failed": 2}},
            422,
            "abort_shares",
        ),
        (
            {"image_id": image_id, "canary_count": 1, "abort_shares": {"bricked": 0.1}},
            422,
            "unknown failure class",
        ),
    ]
    for body, code, why in cases:
        answer = await offline_api.post("/rollouts", json=body)
        assert answer.status_code == code and why in answer.text, (body, answer.text)
    # Nothing was stored for any of them.
    stored = (await offline_api.get("/rollouts")).json()
    assert [r for r in stored if r["image_id"] == image_id] == []
    # One station: unknown image, an image that does not fit, a version it runs already.
    assert (
        await offline_api.post(
            f"/stations/{stations[0]}/firmware-updates", json={"image_id": "nope"}
        )
    ).status_code == 404
    misfit = await offline_api.post(
        f"/stations/{other[0]}/firmware-updates", json={"image_id": image_id}
    )
    assert misfit.status_code == 422 and "does not fit" in misfit.text
    same = unique("img")
    assert (await offline_api.post("/firmware", json=_image(same, "0.9"))).status_code == 201
    already = await offline_api.post(
        f"/stations/{stations[0]}/firmware-updates", json={"image_id": same}
    )
    assert already.status_code == 422 and "runs 0.9 already" in already.text


async def test_a_campaign_over_more_stations_than_one_campaign_takes_is_refused(
    offline_api: httpx.AsyncClient, sqlite_db: Database
) -> None:
    site = unique("s")
    await seed_fleet(sqlite_db, None, {site: 1})
    async with sqlite_db.sessions.begin() as session:
        session.add_all(
            Station(
                id=f"{site}-{n}", site_id=site, vendor="Acme", model="AC-22", firmware_version="0.9"
            )
            for n in range(MAX_TARGETS)
        )
    image_id = unique("img")
    assert (await offline_api.post("/firmware", json=_image(image_id))).status_code == 201
    body = {"image_id": image_id, "targets": {"site_ids": [site]}, "canary_share": 0.01}
    answer = await offline_api.post("/rollouts", json=body)
    assert answer.status_code == 422, answer.text
    assert f"{MAX_TARGETS + 1} stations to update" in answer.text and "split it" in answer.text
    stored = (await offline_api.get("/rollouts")).json()
    assert [r for r in stored if r["image_id"] == image_id] == []


@pytest.fixture
async def live(
    temporal_dev: WorkflowEnvironment, sqlite_db: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, FirmwareNode]]:
    """The API, the worker and a scripted gateway node on the dev server."""
    queue = unique("fw-api-q")
    app = create_app(
        sqlite_db,
        TemporalLink.of(temporal_dev.client),
        {OPERATOR: "operator", VIEWER: "viewer"},
        queue,
    )
    node = FirmwareNode(sqlite_db, temporal_dev.client, "2.0")
    async with (
        build_worker(temporal_dev.client, sqlite_db, queue),
        node.worker(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api",
            headers={"X-API-Key": OPERATOR},
            timeout=20,
        ) as client,
    ):
        yield client, node


async def _until(http: httpx.AsyncClient, rollout_id: str, check: Any) -> dict[str, Any]:
    for _ in range(300):
        answer = (await http.get(f"/rollouts/{rollout_id}", params={"stations": True})).json()
        if check(answer):
            return answer
        await asyncio.sleep(0.05)
    raise AssertionError(f"rollout {rollout_id} never got there: {answer}")


async def test_an_operator_runs_pauses_resumes_and_cancels_campaigns_through_the_api(
    live: tuple[httpx.AsyncClient, FirmwareNode], sqlite_db: Database
) -> None:
    http, node = live
    site = unique("s")
    stations = sorted(await seed_fleet(sqlite_db, node, {site: 6}))
    image_id = unique("img")
    assert (await http.post("/firmware", json=_image(image_id))).status_code == 201
    body = {
        "image_id": image_id,
        "targets": {"site_ids": [site]},
        "canary_count": 1,
        "soak_s": 3600,
        "promote_share": 1.0,
        "max_site_share": 1.0,
    }
    started = await http.post("/rollouts", json={**body, "id": unique("ro")})
    assert started.status_code == 201, started.text
    rollout = started.json()
    assert (rollout["targets"], rollout["workflow_id"]) == (6, f"rollout:{rollout['id']}")
    # The canary succeeds, then the campaign soaks for an hour: pause it there.
    soaking = await _until(
        http, rollout["id"], lambda r: r["progress"]["counts"].get("succeeded") == 1
    )
    assert soaking["progress"]["waves"][0]["succeeded"] == 1
    paused = await http.post(f"/rollouts/{rollout['id']}/pause", json={"reason": "checking logs"})
    assert (paused.status_code, paused.json()["state"], paused.json()["reason"]) == (
        200,
        "paused",
        "checking logs",
    )
    again = await http.post(f"/rollouts/{rollout['id']}/pause")
    assert again.status_code == 409 and "cannot pause: the rollout is paused" in again.text
    assert (await http.post(f"/rollouts/{rollout['id']}/resume")).json()["state"] == "running"
    # Promote skips the soak; the rest of the site follows.
    assert (await http.post(f"/rollouts/{rollout['id']}/promote")).status_code == 200
    done = await _until(http, rollout["id"], lambda r: r["state"] == "completed")
    assert done["progress"]["counts"] == {"succeeded": 6}
    history = (await http.get(f"/stations/{stations[0]}/firmware")).json()
    assert history["version"] == "2.0"
    assert [(u["status"], u["from_version"], u["target_version"]) for u in history["updates"]] == [
        ("succeeded", "0.9", "2.0")
    ]
    listed = (await http.get("/rollouts", headers={"X-API-Key": VIEWER})).json()
    assert rollout["id"] in [r["id"] for r in listed]
    assert (await http.post(f"/rollouts/{rollout['id']}/cancel")).status_code == 409
    # A second campaign (a newer image) cancelled during its soak.
    newer = unique("img")
    assert (await http.post("/firmware", json=_image(newer, "2.1"))).status_code == 201
    node.version = "2.1"
    second = (await http.post("/rollouts", json={**body, "image_id": newer})).json()
    await _until(http, second["id"], lambda r: r["progress"]["counts"].get("succeeded") == 1)
    cancelled = await http.post(f"/rollouts/{second['id']}/cancel")
    assert cancelled.status_code == 200
    over = await _until(
        http, second["id"], lambda r: r["state"] == "cancelled" and r["finished_at"]
    )
    assert over["progress"]["counts"] == {"succeeded": 1, "cancelled": 5}
    viewer = {"X-API-Key": VIEWER}
    assert (await http.post(f"/rollouts/{second['id']}/resume", headers=viewer)).status_code == 403


async def test_a_2x_station_told_to_drain_gets_its_update_during_a_session(
    live: tuple[httpx.AsyncClient, FirmwareNode], sqlite_db: Database
) -> None:
    http, node = live
    site = unique("s")
    [station] = await seed_fleet(sqlite_db, node, {site: 1}, ocpp_version="2.0.1")
    await seed_transaction(sqlite_db, station, site_id=site)
    image_id = unique("img")
    assert (await http.post("/firmware", json=_image(image_id))).status_code == 201
    started = await http.post(
        f"/stations/{station}/firmware-updates",
        json={"image_id": image_id, "allow_new_sessions": False},
    )
    assert started.status_code == 202, started.text
    for _ in range(300):
        standing = (await http.get(f"/stations/{station}/firmware")).json()
        if standing["updates"] and standing["updates"][0]["status"] == "succeeded":
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"the update never succeeded: {standing}")
    assert standing["version"] == "2.0"
    assert node.settings == [(station, ALLOW_NEW_SESSIONS, "false")]
    wrong = await http.post(
        f"/stations/{station}/firmware-updates",
        json={"image_id": image_id, "allow_new_sessions": "sometimes"},
    )
    assert wrong.status_code == 422 and "allow_new_sessions" in wrong.text


async def _update_status(
    http: httpx.AsyncClient, station: str, wanted: str, *, finished: bool = False
) -> dict[str, Any]:
    for _ in range(300):
        standing = (await http.get(f"/stations/{station}/firmware")).json()
        latest = standing["updates"][0] if standing["updates"] else {}
        if latest.get("status") == wanted and (latest["finished_at"] is not None) == finished:
            return latest
        await asyncio.sleep(0.05)
    raise AssertionError(f"the update of {station} never got {wanted}: {standing}")


async def test_an_operator_sees_an_update_wait_and_calls_it_off_before_it_goes_out(
    live: tuple[httpx.AsyncClient, FirmwareNode], sqlite_db: Database
) -> None:
    http, node = live
    site = unique("s")
    waiting, sent = await seed_fleet(sqlite_db, node, {site: 2})
    await seed_transaction(sqlite_db, waiting, site_id=site)
    node.behaviour[sent] = "silent"  # takes the update, then reports nothing
    image_id = unique("img")
    assert (await http.post("/firmware", json=_image(image_id))).status_code == 201
    for station in (waiting, sent):
        answer = await http.post(
            f"/stations/{station}/firmware-updates", json={"image_id": image_id}
        )
        assert answer.status_code == 202, answer.text
    # The open update's status is the workflow's own, live.
    await _update_status(http, waiting, "waiting_for_session")
    await _update_status(http, sent, "sent")
    late = await http.post(f"/stations/{sent}/firmware-updates/cancel")
    assert late.status_code == 409 and "cannot be called back" in late.text
    viewer = await http.post(
        f"/stations/{waiting}/firmware-updates/cancel", headers={"X-API-Key": VIEWER}
    )
    assert viewer.status_code == 403
    cancelled = await http.post(f"/stations/{waiting}/firmware-updates/cancel")
    assert cancelled.status_code == 200, cancelled.text
    await _update_status(http, waiting, "cancelled", finished=True)
    assert node.stations_sent() == [sent]
    again = await http.post(f"/stations/{waiting}/firmware-updates/cancel")
    assert again.status_code == 404
