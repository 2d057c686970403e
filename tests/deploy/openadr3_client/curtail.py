"""A utility curtails a site with its own OpenADR 3 tooling (Python 3.12+ with the PyPI
package ``openadr3-client``; not imported by the test suite): a program, an event
of IMPORT_CAPACITY_LIMIT intervals from START, then the event's report once the
platform has written it; prints each step as one JSON line.

    python curtail.py BASE_URL CLIENT_ID CLIENT_SECRET SITE_ID START SECONDS KW [KW ...]
"""

import sys
import time
from datetime import datetime, timedelta

from grid import business_logic, say
from openadr3_client.oadr310.models.event.event import Interval, IntervalPeriod, NewEvent
from openadr3_client.oadr310.models.event.event_payload import (
    EventPayload,
    EventPayloadDescriptor,
    EventPayloadType,
)
from openadr3_client.oadr310.models.program.program import NewProgram
from openadr3_client.oadr310.models.unit import Unit


def main() -> None:
    base, client_id, secret, site, start_text, seconds = sys.argv[1:7]
    caps = [float(kw) for kw in sys.argv[7:]]
    bl = business_logic(base, client_id, secret)
    limit = EventPayloadDescriptor(
        payload_type=EventPayloadType.IMPORT_CAPACITY_LIMIT, units=Unit.KW
    )
    program = bl.programs.create_program(
        new_program=NewProgram(program_name="curtailment", payload_descriptors=(limit,))
    )
    start = datetime.fromisoformat(start_text)
    event = bl.events.create_event(
        new_event=NewEvent(
            programID=program.id,
            event_name="curtail-site",
            targets=(site,),
            payload_descriptors=(limit,),
            interval_period=IntervalPeriod(start=start, duration=timedelta(seconds=int(seconds))),
            intervals=tuple(
                Interval(
                    id=n,
                    payloads=(
                        EventPayload(type=EventPayloadType.IMPORT_CAPACITY_LIMIT, values=(kw,)),
                    ),
                )
                for n, kw in enumerate(caps)
            ),
        )
    )
    say("event", event.id)
    deadline = time.monotonic() + 600
    reports: tuple = ()
    while not reports and time.monotonic() < deadline:
        time.sleep(2)
        reports = bl.reports.get_reports(
            pagination=None, program_id=program.id, event_id=event.id, client_name=None
        )
    say(
        "report",
        [
            {p.type: list(p.values) for p in interval.payloads}
            for report in reports
            for resource in report.resources
            for interval in resource.intervals
        ],
    )


if __name__ == "__main__":
    main()
