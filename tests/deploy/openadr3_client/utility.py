"""A utility's own OpenADR 3 tooling against the platform's VTN (run under Python 3.12+
with the PyPI package ``openadr3-client``; not imported by the test suite).

Finds the token endpoint through OpenADR 3.1 discovery, then creates a program,
reads its subscriptions, VENs and resources, creates an event with an
IMPORT_CAPACITY_LIMIT for the site, reads the events back, changes the event's
priority, cancels it, and reads back the report of a short event; prints each
step's result as one JSON line.

    python utility.py BASE_URL CLIENT_ID CLIENT_SECRET SITE_ID
"""

import sys
import time
from datetime import UTC, datetime, timedelta

from grid import business_logic, say
from openadr3_client.oadr310.models.event.event import (
    EventUpdate,
    Interval,
    IntervalPeriod,
    NewEvent,
)
from openadr3_client.oadr310.models.event.event_payload import (
    EventPayload,
    EventPayloadDescriptor,
    EventPayloadType,
)
from openadr3_client.oadr310.models.program.program import NewProgram
from openadr3_client.oadr310.models.unit import Unit


def main() -> None:
    base, client_id, secret, site = sys.argv[1:5]
    bl = business_logic(base, client_id, secret)
    program = bl.programs.create_program(
        new_program=NewProgram(
            program_name="evening-capacity",
            payload_descriptors=(
                EventPayloadDescriptor(
                    payload_type=EventPayloadType.IMPORT_CAPACITY_LIMIT, units=Unit.KW
                ),
            ),
        )
    )
    say("program", program.id)
    # The webhooks the test subscribed for the utility, and the sites it may target.
    subscriptions = bl.subscriptions.get_subscriptions(
        pagination=None, program_id=None, client_name=None, objects=None
    )
    say("subscriptions", [s.client_name for s in subscriptions])
    vens = bl.vens.get_vens(ven_name=None, target=None, pagination=None)
    say("vens", [v.ven_name for v in vens])
    resources = bl.resources.get_resources(ven_id=vens[0].id)
    say("resources", [r.resource_name for r in resources])
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    limit = EventPayloadDescriptor(
        payload_type=EventPayloadType.IMPORT_CAPACITY_LIMIT, units=Unit.KW
    )

    def event_of(priority: int, kind: type = NewEvent) -> NewEvent:
        return kind(
            programID=program.id,
            event_name="curtail-1",
            priority=priority,
            targets=(site,),
            payload_descriptors=(limit,),
            interval_period=IntervalPeriod(start=start, duration=timedelta(hours=1)),
            intervals=(
                Interval(
                    id=0,
                    payloads=(
                        EventPayload(type=EventPayloadType.IMPORT_CAPACITY_LIMIT, values=(11.0,)),
                    ),
                ),
            ),
        )

    event = bl.events.create_event(new_event=event_of(1))
    say("event", {"id": event.id, "priority": event.priority})
    found = bl.events.get_events(target=None, pagination=None, program_id=program.id)
    say("events", [e.id for e in found])
    changed = bl.events.update_event_by_id(
        event_id=event.id, updated_event=event_of(0, EventUpdate)
    )
    say("changed", {"id": changed.id, "priority": changed.priority})
    cancelled = bl.events.delete_event_by_id(event_id=event.id)
    say("cancelled", cancelled.id)
    left = bl.events.get_events(target=None, pagination=None, program_id=program.id)
    say("left", [e.id for e in left])
    # A short event from now: when it ends, its report is there to read back.
    short = bl.events.create_event(
        new_event=NewEvent(
            programID=program.id,
            event_name="curtail-now",
            targets=(site,),
            payload_descriptors=(limit,),
            interval_period=IntervalPeriod(
                start=datetime.now(UTC).replace(microsecond=0), duration=timedelta(seconds=5)
            ),
            intervals=(
                Interval(
                    id=0,
                    payloads=(
                        EventPayload(type=EventPayloadType.IMPORT_CAPACITY_LIMIT, values=(5.0,)),
                    ),
                ),
            ),
        )
    )
    deadline = time.monotonic() + 60
    reports: tuple = ()
    while not reports and time.monotonic() < deadline:
        time.sleep(1)
        reports = bl.reports.get_reports(
            pagination=None, program_id=program.id, event_id=short.id, client_name=None
        )
    say(
        "report",
        [
            {
                "event": r.event_id,
                "resources": [
                    {
                        "name": res.resource_name,
                        "payloads": [
                            {p.type: list(p.values) for p in i.payloads} for i in res.intervals
                        ],
                    }
                    for res in r.resources
                ],
            }
            for r in reports
        ],
    )


if __name__ == "__main__":
    main()
