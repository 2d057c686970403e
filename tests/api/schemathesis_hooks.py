"""Schemathesis hooks for the generated-request test (loaded by ``SCHEMATHESIS_HOOKS``)."""

from __future__ import annotations

from typing import Any

import schemathesis

# Answers the API documents for a dependency being away: Temporal unreachable (503)
# or no worker taking a command in time (504). Any other 5xx is a defect.
DEPENDENCY_DOWN = {503, 504}


@schemathesis.check
def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 500 (or any 5xx but the documented dependency answers), whatever the input."""
    if response.status_code >= 500 and response.status_code not in DEPENDENCY_DOWN:
        raise AssertionError(
            f"{case.method} {case.formatted_path} answered {response.status_code}: "
            f"{response.text[:300]}"
        )
    return None
