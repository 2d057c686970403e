"""Child processes of ``csms up``: started in their own session, stopped in order."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from pathlib import Path


async def spawn(
    args: Sequence[str], *, log_file: Path | None = None, env: Mapping[str, str] | None = None
) -> asyncio.subprocess.Process:
    """Start a child in its own session, so Ctrl-C reaches only ``csms up``, which then
    stops the children in order."""
    output = log_file.open("ab") if log_file is not None else None
    return await asyncio.create_subprocess_exec(
        *args,
        stdout=output,
        stderr=output,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


async def terminate(process: asyncio.subprocess.Process | None, timeout_s: float = 20) -> None:
    """SIGTERM, then SIGKILL if the child has not exited within ``timeout_s``."""
    if process is None or process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
