"""The environment amphora processes get is a fixed list, whatever the caller's holds."""

from __future__ import annotations

import os
import subprocess
import sys

from ostia.common.process_env import agent_environment, amphora_environment


def test_nothing_of_the_callers_environment_is_passed_on(monkeypatch):
    monkeypatch.setenv("OSTIA_CONTROLLER_SECRET", "s3cret")
    monkeypatch.setenv("PATH", "/home/operator/private-bin:/usr/bin")
    for env in (amphora_environment(), agent_environment()):
        assert "OSTIA_CONTROLLER_SECRET" not in env
        assert "s3cret" not in "".join(env.values())
        assert "private-bin" not in env["PATH"]
        assert set(env) <= {"PATH", "LANG", "LC_ALL", "PYTHONUNBUFFERED", "PYTHONPATH"}
        assert env["LC_ALL"] == env["LANG"] == "C.UTF-8"


def test_the_agent_environment_can_import_ostia():
    """What the local driver starts the agent with is enough to import the agent."""
    env = agent_environment()
    if "PYTHONPATH" in env:
        assert os.path.isfile(os.path.join(env["PYTHONPATH"], "ostia", "__init__.py"))
    result = subprocess.run(
        [sys.executable, "-c", "import ostia.cmd.agent"], env=env, cwd="/", capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
