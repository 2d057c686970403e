"""``csms price``: a third party's OCPI tariff and CDR checked from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CSMS = str(Path(sys.executable).parent / "csms")
EXAMPLES = Path(__file__).parents[1] / "activities" / "billing" / "ocpi_examples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``csms price`` as a process."""
    return subprocess.run([CSMS, "price", *args], capture_output=True, text=True, timeout=60)


def test_the_example_cdr_is_priced_to_its_own_totals() -> None:
    """The OCPI CDR example with its own tariff: one JSON object in the CDR's shape."""
    done = run("--cdr", str(EXAMPLES / "cdr_example.json"))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    example = json.loads((EXAMPLES / "cdr_example.json").read_text())
    assert out["total_cost"] == example["total_cost"]
    assert out["total_time_cost"] == example["total_time_cost"]
    assert set(out) >= {
        "total_cost",
        "total_energy_cost",
        "total_time_cost",
        "total_parking_cost",
        "total_fixed_cost",
        "total_energy",
        "total_time",
        "total_parking_time",
    }


def test_a_separate_tariff_file_and_a_note_about_missing_current(tmp_path: Path) -> None:
    """With the complex tariff the example CDR reports no current, so only the start fee
    applies, and a note on stderr says why."""
    done = run(
        "--cdr",
        str(EXAMPLES / "cdr_example.json"),
        "--tariff",
        str(EXAMPLES / "tariff_4_complex.json"),
        "--time-zone",
        "Europe/Brussels",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total_cost"] == {"excl_vat": 2.5, "incl_vat": 2.88}
    assert "no MIN_CURRENT/MAX_CURRENT" in done.stderr


def test_a_bad_tariff_is_refused_with_its_reason(tmp_path: Path) -> None:
    """A negative price: exit code 2 and the field's path, nothing on stdout."""
    bad = json.loads((EXAMPLES / "tariff_1_simple_2hour.json").read_text())
    bad["elements"][0]["price_components"][0]["price"] = -2
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    done = run("--cdr", str(EXAMPLES / "cdr_example.json"), "--tariff", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "elements[0].price_components[0].price: a price cannot be negative" in done.stderr
