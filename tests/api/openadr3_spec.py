"""The OpenADR 3 OpenAPI definition (3.1), as the PyPI package ``openadr3`` ships it in
its source distribution (``resources/openadr3.yaml``): fetched from the registry
once into ``tests/.cache``, never copied into this repository."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

PACKAGE = "openadr3==0.5.0"
CACHE = Path(__file__).parents[1] / ".cache" / "openadr3-spec"
SPEC = CACHE / "openadr3.yaml"


def ensure_spec() -> Path:
    """The definition's path, downloaded and extracted on first use."""
    if SPEC.exists():
        return SPEC
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--dest",
            str(CACHE),
            PACKAGE,
        ],
        check=True,
        timeout=300,
    )
    [archive] = CACHE.glob("openadr3-*.tar.gz")
    with tarfile.open(archive) as sdist:
        member = next(m for m in sdist.getmembers() if m.name.endswith("resources/openadr3.yaml"))
        extracted = sdist.extractfile(member)
        assert extracted is not None
        SPEC.write_bytes(extracted.read())
    return SPEC
