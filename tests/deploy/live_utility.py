"""A utility's own OpenADR 3 tooling, run as a separate process: the PyPI package
``openadr3-client`` (Python 3.12 or newer) in a virtual environment of its own."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "openadr3_client"
VENV = HERE / ".venv"


def python312() -> str:
    """An interpreter of Python 3.12 or newer that runs: $CSMS_PYTHON312, this one,
    one pyenv holds, or one on the PATH (a pyenv shim of a version not selected
    fails, so each is tried)."""
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = [
        os.environ.get("CSMS_PYTHON312"),
        sys.executable if sys.version_info >= (3, 12) else None,
        *sorted(glob.glob(f"{root}/versions/3.1[2-9]*/bin/python"), reverse=True),
        shutil.which("python3.13"),
        shutil.which("python3.12"),
    ]
    check = "import sys; raise SystemExit(sys.version_info < (3, 12))"
    for candidate in candidates:
        if (
            candidate
            and subprocess.run([candidate, "-c", check], capture_output=True).returncode == 0
        ):
            return candidate
    raise RuntimeError("the OpenADR 3 client needs Python 3.12 or newer (set CSMS_PYTHON312)")


def ensure_client() -> Path:
    """The client's virtual environment, made once from the pinned requirements."""
    python = VENV / "bin" / "python"
    marker = VENV / "installed.txt"
    wanted = (HERE / "requirements.txt").read_text()
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    subprocess.run([python312(), "-m", "venv", "--clear", str(VENV)], check=True, timeout=120)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(HERE / "requirements.txt")],
        check=True,
        timeout=600,
    )
    marker.write_text(wanted)
    return python


async def _run(script: str, *args: str, timeout: float) -> dict[str, Any]:
    """Run one of the utility's scripts in the client's venv; each step's result by name."""
    python = await asyncio.to_thread(ensure_client)
    process = await asyncio.create_subprocess_exec(
        str(python),
        str(HERE / script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"the OpenADR 3 client failed:\n{err.decode()[-4000:]}")
    steps = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    return {step["step"]: step["value"] for step in steps}


async def run_utility(base_url: str, client_id: str, secret: str, site_id: str) -> dict[str, Any]:
    """Run the utility's cycle (utility.py) and return each step's result by name."""
    return await _run("utility.py", base_url, client_id, secret, site_id, timeout=120)


async def run_curtailment(
    base_url: str,
    client_id: str,
    secret: str,
    site_id: str,
    start: str,
    seconds: int,
    caps_kw: list[float],
) -> dict[str, Any]:
    """The utility curtails the site (curtail.py) and reads the event's report back."""
    caps = [str(kw) for kw in caps_kw]
    return await _run(
        "curtail.py", base_url, client_id, secret, site_id, start, str(seconds), *caps, timeout=900
    )
