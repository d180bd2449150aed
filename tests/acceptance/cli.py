"""The real `openstack` command, run as a user would, against one endpoint.

Every call is a new process with the README's no-auth options
(`--os-auth-type none --os-endpoint URL`), a private HOME (no clouds.yaml of the machine's)
and no OS_* variables from the environment.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

OPENSTACK = Path(sys.executable).parent / "openstack"


@dataclasses.dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def describe(self) -> str:
        return (
            f"$ {shlex.join(self.args)}\nexit {self.returncode}\n"
            f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        )


class OpenStackCLI:
    def __init__(self, endpoint: str, home: Path) -> None:
        assert OPENSTACK.exists(), (
            f"{OPENSTACK} is missing: the test extra installs python-openstackclient (bash scripts/test.sh)"
        )
        self.endpoint = endpoint
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env.update(HOME=str(home), PYTHONWARNINGS="ignore")

    def options(self) -> list[str]:
        return ["--os-auth-type", "none", "--os-endpoint", self.endpoint]

    def run_line(self, line: str, timeout: float = 120) -> Result:
        """A command line as a person types it (`openstack ...`), word for word."""
        words = shlex.split(line)
        assert words[0] == "openstack", line
        return self._run([str(OPENSTACK), *words[1:]], timeout)

    def run(self, *args: str, timeout: float = 120) -> Result:
        return self._run([str(OPENSTACK), *self.options(), *args], timeout)

    def ok(self, *args: str, timeout: float = 120) -> Result:
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, result.describe()
        return result

    def json(self, *args: str, timeout: float = 120) -> Any:
        """`openstack <args> -f json`, which must succeed; the printed data."""
        return self.ok(*args, "-f", "json", timeout=timeout).json()

    def _run(self, argv: list[str], timeout: float) -> Result:
        completed = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return Result(tuple(argv), completed.returncode, completed.stdout, completed.stderr)
