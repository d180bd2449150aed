"""The systemd units under etc/systemd/ start the four services with the right options."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "etc" / "systemd"
SERVICES = ("octavia-api", "octavia-worker", "octavia-health-manager", "octavia-housekeeping")
INSTALLED_BIN = "/opt/ostia/bin/"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / f"{name}.service")
    return parser


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_has_a_unit_running_its_command_with_the_config_file(name):
    unit = _unit(name)
    assert unit["Service"]["ExecStart"] == (f"{INSTALLED_BIN}{name} --config-file /etc/octavia/octavia.conf")
    assert unit["Service"]["User"] == "octavia"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("name", ["octavia-worker", "octavia-housekeeping"])
def test_services_that_start_amphorae_leave_them_running_when_stopped(name):
    # Local amphorae are children of these services and carry the data plane.
    assert _unit(name)["Service"]["KillMode"] == "process"


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    # verify checks that ExecStart exists: point the copies at this installation.
    bin_dir = str(Path(sys.executable).parent) + "/"
    copies = []
    for name in SERVICES:
        text = (UNITS / f"{name}.service").read_text().replace(INSTALLED_BIN, bin_dir)
        copy = tmp_path / f"{name}.service"
        copy.write_text(text)
        copies.append(str(copy))
    result = subprocess.run(
        [analyze, "verify", *copies], capture_output=True, text=True, timeout=60, check=False
    )
    # Unknown keys and bad values are only warnings (exit 0): any line about our files fails.
    ours = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if any(name in line for name in SERVICES)
    ]
    assert result.returncode == 0 and ours == [], result.stdout + result.stderr
