"""Which state directory a command without --state-dir uses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ostia.cmd import instances


@pytest.fixture(autouse=True)
def private_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OSTIA_HOME", raising=False)


def _serving(state: Path, pid: int) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / "ostia.pid").write_text(str(pid))
    directory = instances.registry_dir()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / str(pid)).write_text(str(state))


def test_nothing_running_means_the_default(tmp_path: Path):
    assert instances.chosen_state_dir(None) == tmp_path / "home" / ".local/share/ostia"


def test_the_one_running_instance_is_found(tmp_path: Path):
    state = tmp_path / "elsewhere"
    entry = instances.register(state)
    (state).mkdir()
    (state / "ostia.pid").write_text(str(os.getpid()))
    try:
        assert instances.chosen_state_dir(None) == state
        assert instances.chosen_state_dir(str(tmp_path / "given")) == tmp_path / "given"
    finally:
        instances.unregister(entry)
    assert instances.running_state_dirs() == []


def test_ostia_home_wins_over_a_running_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _serving(tmp_path / "running", os.getpid())
    monkeypatch.setenv("OSTIA_HOME", str(tmp_path / "chosen"))
    assert instances.chosen_state_dir(None) == tmp_path / "chosen"


def test_stale_entries_are_ignored_and_removed(tmp_path: Path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    _serving(tmp_path / "gone", dead.pid)
    assert instances.running_state_dirs() == []
    assert not (instances.registry_dir() / str(dead.pid)).exists()


def test_two_running_instances_ask_for_a_choice(tmp_path: Path, capsys):
    other = subprocess.Popen(["sleep", "30"])
    try:
        _serving(tmp_path / "a", os.getpid())
        _serving(tmp_path / "b", other.pid)
        with pytest.raises(SystemExit):
            instances.chosen_state_dir(None)
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--state-dir" in err and "2 Ostia instances" in err
    finally:
        other.kill()
        other.wait()
