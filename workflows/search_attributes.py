"""Typed search attributes of the CSMS, declared once.

They are registered on the Temporal server by ``csms up`` (and by the test
fixtures), and set by every workflow so operators can filter in the Temporal UI,
e.g. ``CsmsStationId = "CP-1" AND CsmsState = "active"``.
No personal data (id tags, names) ever goes into a search attribute.
"""

from temporalio.common import SearchAttributeKey

STATION_ID = SearchAttributeKey.for_keyword("CsmsStationId")
SITE_ID = SearchAttributeKey.for_keyword("CsmsSiteId")
FLEET_ID = SearchAttributeKey.for_keyword("CsmsFleetId")
STATE = SearchAttributeKey.for_keyword("CsmsState")

ALL = (STATION_ID, SITE_ID, FLEET_ID, STATE)
"""Every custom search attribute the server must know before workflows start."""
