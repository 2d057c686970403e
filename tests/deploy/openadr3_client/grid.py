"""What the utility's two scripts share: their OpenADR 3.1 business-logic client,
found through discovery, and one JSON line per step."""

import json
import os

# The test stack serves plain HTTP on 127.0.0.1 (oauthlib refuses http:// otherwise).
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

from openadr3_client.bl.http_factory import BusinessLogicHttpClientFactory
from openadr3_client.version import OADRVersion


def say(step: str, value: object) -> None:
    """One step's result, as a JSON line on stdout."""
    print(json.dumps({"step": step, "value": value}, default=str), flush=True)


def business_logic(base: str, client_id: str, secret: str):
    """The utility's client of the VTN at ``base`` (token URL by 3.1 discovery)."""
    return BusinessLogicHttpClientFactory.create_http_bl_client(
        vtn_base_url=base,
        client_id=client_id,
        client_secret=secret,
        token_url=None,  # OpenADR 3.1 discovery: GET {base}/auth/server
        scopes=["read_all", "write_programs", "write_events"],
        allow_insecure_http=True,
        version=OADRVersion.OADR_310,
    )
