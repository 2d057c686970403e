"""The VTN against the OpenADR 3 OpenAPI definition itself: every request a utility
makes here and every answer it gets, good and bad, validated with openapi-core
against the 3.1 definition (fetched from PyPI, see :mod:`tests.api.openadr3_spec`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from activities.compliance import ComplianceActivities
from activities.persistence.database import Database
from activities.persistence.models import DrReport
from tests.api.openadr3_spec import ensure_spec
from tests.api.test_openadr3 import _client, _event
from tests.helpers import utility_bearer

BASE = "http://api/openadr3"
LIMIT = {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "IMPORT_CAPACITY_LIMIT"}


def _spec_event(program_id: str) -> dict[str, Any]:
    """The tests' event, with what the definition requires of its descriptors."""
    return {**_event(program_id), "payloadDescriptors": [{**LIMIT, "units": "KW"}]}


PAYLOAD_DESCRIPTORS = {
    "EVENT_PAYLOAD_DESCRIPTOR": "#/components/schemas/eventPayloadDescriptor",
    "REPORT_PAYLOAD_DESCRIPTOR": "#/components/schemas/reportPayloadDescriptor",
}


SERVED_AS = {"BlVenRequest": "VEN", "BlResourceRequest": "RESOURCE"}


def _mended(node: Any, name: str = "") -> Any:
    """The definition without its three slips: a typo (``default: 'null          -'``
    on a list of targets) that makes the definition itself invalid; the program's
    payload-descriptor discriminator without the mapping from its ``objectType``
    values to the schemas they name; and a served VEN or resource that no object can
    be (its metadata's ``objectType`` must be VEN or RESOURCE, its request part's
    BL_VEN_REQUEST or BL_RESOURCE_REQUEST): the served name is allowed as well."""
    if name in SERVED_AS:
        kind = node["properties"]["objectType"]
        node["properties"]["objectType"] = {**kind, "enum": [*kind["enum"], SERVED_AS[name]]}
    if isinstance(node, dict):
        if node.get("discriminator") == {"propertyName": "objectType"}:
            node = {
                **node,
                "discriminator": {"propertyName": "objectType", "mapping": PAYLOAD_DESCRIPTORS},
            }
        return {
            k: _mended(v, k)
            for k, v in node.items()
            if not (k == "default" and isinstance(v, str) and v.startswith("null "))
        }
    if isinstance(node, list):
        return [_mended(v) for v in node]
    return node


@pytest.fixture(scope="module")
def spec() -> Iterator[OpenAPI]:
    """The definition, served from our base URL."""
    definition: dict[str, Any] = _mended(yaml.safe_load(ensure_spec().read_text()))
    definition["servers"] = [{"url": BASE}]
    yield OpenAPI.from_dict(definition)


class Checked:
    """Calls the VTN and validates each request and response against the definition."""

    def __init__(self, http: httpx.AsyncClient, spec: OpenAPI) -> None:
        self.http, self.spec = http, spec
        self.checked: list[str] = []

    async def call(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        answer = await self.http.request(
            method, "/openadr3" + path, headers=headers, json=json, params=params
        )
        url = urlsplit(str(answer.request.url))
        request = MockRequest(
            "http://api",
            method.lower(),
            url.path,
            args={k: v[0] for k, v in parse_qs(url.query).items()},
            headers=dict(answer.request.headers),
            data=answer.request.content or None,
            content_type=answer.request.headers.get("content-type", "application/json"),
        )
        self.spec.validate_request(request)
        response = MockResponse(
            answer.content,
            status_code=answer.status_code,
            headers=dict(answer.headers),
            content_type=answer.headers.get("content-type", "application/json"),
        )
        self.spec.validate_response(request, response)
        self.checked.append(f"{method} {path} {answer.status_code}")
        return answer


async def test_a_utilitys_whole_cycle_keeps_to_the_definition(
    http: httpx.AsyncClient, spec: OpenAPI, sqlite_db: Database
) -> None:
    client = await _client(http, "Grid Spec", ["dr-a", "dr-b"])
    bearer, _ = await utility_bearer(
        http, client, scope="read_all write_programs write_events write_subscriptions"
    )
    vtn = Checked(http, spec)
    assert (await vtn.call("GET", "/auth/server")).status_code == 200
    program = await vtn.call(
        "POST",
        "/programs",
        headers=bearer,
        json={
            "programName": "spec-capacity",
            "payloadDescriptors": [
                {
                    "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                    "payloadType": "IMPORT_CAPACITY_LIMIT",
                    "units": "KW",
                }
            ],
        },
    )
    assert program.status_code == 201, program.text
    program_id = program.json()["id"]
    await vtn.call("GET", "/programs", headers=bearer)
    await vtn.call("GET", f"/programs/{program_id}", headers=bearer)
    await vtn.call(
        "PUT", f"/programs/{program_id}", headers=bearer, json={"programName": "spec-capacity-2"}
    )
    event = await vtn.call("POST", "/events", headers=bearer, json=_spec_event(program_id))
    assert event.status_code == 201, event.text
    event_id = event.json()["id"]
    await vtn.call("GET", "/events", headers=bearer, params={"programID": program_id})
    await vtn.call("GET", f"/events/{event_id}", headers=bearer)
    await vtn.call("PUT", f"/events/{event_id}", headers=bearer, json=_spec_event(program_id))
    subscription = await vtn.call(
        "POST",
        "/subscriptions",
        headers=bearer,
        json={
            "clientName": "grid-ops",
            "programID": program_id,
            "objectOperations": [
                {
                    "objects": ["EVENT"],
                    "operations": ["CREATE", "UPDATE", "DELETE"],
                    "callbackUrl": "https://grid.example/hook",
                    "bearerToken": "theirs",
                }
            ],
        },
    )
    assert subscription.status_code == 201, subscription.text
    subscription_id = subscription.json()["id"]
    await vtn.call("GET", "/subscriptions", headers=bearer)
    await vtn.call("GET", f"/subscriptions/{subscription_id}", headers=bearer)
    vens = await vtn.call("GET", "/vens", headers=bearer)
    await vtn.call("GET", f"/vens/{vens.json()[0]['id']}", headers=bearer)
    resources = await vtn.call("GET", "/resources", headers=bearer)
    await vtn.call("GET", f"/resources/{resources.json()[0]['id']}", headers=bearer)
    await vtn.call("GET", "/notifiers", headers=bearer)
    # A report, as the event's workflow writes it when the event ends.
    report_id = await ComplianceActivities(sqlite_db).report_event(event_id)
    assert report_id is not None
    await vtn.call("GET", "/reports", headers=bearer, params={"eventID": event_id})
    await vtn.call("GET", f"/reports/{report_id}", headers=bearer)
    # Refusals keep to it too: a bad event, an unknown object, no token.
    past = _spec_event(program_id)
    past["intervalPeriod"]["start"] = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert (await vtn.call("POST", "/events", headers=bearer, json=past)).status_code == 400
    assert (await vtn.call("GET", "/events/nope", headers=bearer)).status_code == 404
    assert (await vtn.call("GET", "/programs")).status_code in (401, 403)
    await vtn.call("DELETE", f"/subscriptions/{subscription_id}", headers=bearer)
    await vtn.call("DELETE", f"/events/{event_id}", headers=bearer)
    await vtn.call("DELETE", f"/programs/{program_id}", headers=bearer)
    assert len(vtn.checked) == 25  # every call above, request and answer checked
    async with sqlite_db.sessions() as session:
        assert await session.get(DrReport, report_id) is not None
