"""Generated requests against the API's own OpenAPI document (Schemathesis, a real
uvicorn server over SQLite, and PostgreSQL where it runs; Temporal unreachable).

Every operation gets edge-case and random input (huge integers, odd dates, wrong
types, missing bodies): no answer may be a 500, and every response must match the
schema the document gives for its status (422 bodies included).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.api.conftest import KEY

SCHEMATHESIS = str(Path(sys.executable).parent / "st")
ROOT = str(Path(__file__).resolve().parents[2])


# PostgreSQL gets the most examples: inputs that only fail on a real server (NUL
# characters, integers past a column's range) surface there; SQLite a lighter pass.
EXAMPLES = {"postgresql": "15", "sqlite": "8"}


async def test_no_generated_request_gets_a_500_or_breaks_the_schema(
    api_url: str, tmp_path: Path, backend: str
) -> None:
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",
        "PYTHONPATH": ROOT,
    }
    process = await asyncio.create_subprocess_exec(
        SCHEMATHESIS,
        "run",
        f"{api_url}/openapi.json",
        "--header",
        f"X-API-Key: {KEY}",
        "--checks",
        "no_server_error,response_schema_conformance,content_type_conformance",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        os.environ.get("CSMS_SCHEMATHESIS_EXAMPLES", EXAMPLES[backend]),
        "--seed",
        "20261201",
        # One worker: Schemathesis's coverage phase has failed internally with two.
        "--workers",
        "1",
        "--no-color",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    await asyncio.to_thread((tmp_path / "schemathesis.log").write_text, report)
    failures = report[report.find("FAILURES") :] if "FAILURES" in report else report[-6000:]
    assert process.returncode == 0, failures[:12000]
