"""A real OpenStack Keystone for tests: its own venv, SQLite in a temp dir, gunicorn on a
free loopback port, and the projects, users and roles the RBAC tests need.

The venv comes from scripts/install-keystone.sh (scripts/test.sh runs it; `start` runs it
too when the venv is missing). Anything that stops Keystone from installing or starting
raises KeystoneUnavailable with the reason and the tail of its logs: never a silent skip.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.live_api import free_port

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "scripts" / "install-keystone.sh"
SETUP_SCRIPT = Path(__file__).with_name("keystone_setup.py")
START_TIMEOUT = 120.0  # importing Keystone takes several seconds on a busy 2-core machine


class KeystoneUnavailable(RuntimeError):
    """Keystone could not be installed or started; the message says why."""


def keystone_venv() -> Path:
    """Where scripts/install-keystone.sh puts Keystone (same default, same override)."""
    if os.environ.get("OSTIA_KEYSTONE_VENV"):
        return Path(os.environ["OSTIA_KEYSTONE_VENV"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ostia" / "keystone-venv"


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    id: str
    project: str
    project_id: str
    password: str


CONFIG = """\
[DEFAULT]
debug = false
log_file = {dir}/keystone.log
[database]
connection = sqlite:///{dir}/keystone.db
[fernet_tokens]
key_repository = {dir}/fernet-keys
[fernet_receipts]
key_repository = {dir}/fernet-keys
[credential]
key_repository = {dir}/credential-keys
[identity]
# bcrypt's cheapest cost: every password check in the tests stays fast.
password_hash_rounds = 4
[cache]
# Keystone runs hundreds of SQL queries per request without its cache; one gunicorn
# worker keeps an in-process cache coherent (revocations included).
enabled = true
backend = dogpile.cache.memory
[token]
expiration = 3600
"""


# In gunicorn.conf.py: Keystone stops by itself if the test run that started it dies
# without calling stop() (killed, or a pipe closed under it).
ORPHAN_GUARD = """
import os, shutil, signal, threading, time
_test_run = os.getppid()


def when_ready(server):
    def watch():
        while os.getppid() == _test_run:
            time.sleep(1)
        if os.path.basename(os.getcwd()).startswith("ostia-keystone-"):
            shutil.rmtree(os.getcwd(), ignore_errors=True)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()
"""


class KeystoneServer:
    """Keystone on 127.0.0.1:<free port>; `start()`, then `stop()` removes everything."""

    def __init__(self, venv: Path | None = None) -> None:
        self.venv = venv or keystone_venv()
        self.dir = Path(tempfile.mkdtemp(prefix="ostia-keystone-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.v3 = f"{self.url}/v3"
        self.admin_password = secrets.token_urlsafe(16)
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.v3, timeout=60)
        self._admin_token: str | None = None
        self._roles: dict[str, str] = {}

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> KeystoneServer:
        try:
            self._install()
            conf = self.dir / "keystone.conf"
            conf.write_text(CONFIG.format(dir=self.dir))
            self._run_setup(conf)
            self._serve(conf)
            self._wait_ready()
            self._admin_token = self.issue_token("admin", self.admin_password, "admin")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.http.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _install(self) -> None:
        result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900)
        if result.returncode != 0 or not (self.venv / "bin" / "gunicorn").exists():
            raise KeystoneUnavailable(
                f"Keystone could not be installed by {INSTALL_SCRIPT} into {self.venv} "
                f"(exit {result.returncode}):\n{result.stderr[-3000:]}"
            )

    def _run_setup(self, conf: Path) -> None:
        env = dict(os.environ, OS_BOOTSTRAP_PASSWORD=self.admin_password)
        # -I: the script's own folder (this one, with a keystone.py) stays off sys.path.
        result = subprocess.run(
            [str(self.venv / "bin" / "python"), "-I", "-W", "ignore", str(SETUP_SCRIPT), str(conf), self.v3],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        if result.returncode != 0:
            raise KeystoneUnavailable(
                f"keystone-manage db_sync/fernet_setup/credential_setup/bootstrap failed "
                f"(exit {result.returncode}):\n{result.stderr[-2000:]}\n{self._log_tail()}"
            )

    def _serve(self, conf: Path) -> None:
        # Keystone parses sys.argv as its own command line, so gunicorn gets no arguments
        # and reads everything from ./gunicorn.conf.py instead.
        (self.dir / "gunicorn.conf.py").write_text(
            f"bind = '127.0.0.1:{self.port}'\nworkers = 1\nthreads = 4\ntimeout = 120\n"
            f"graceful_timeout = 3\nwsgi_app = 'keystone.wsgi.api:application'\n"
            f"control_socket_disable = True\n{ORPHAN_GUARD}"
        )
        env = dict(os.environ, OS_KEYSTONE_CONFIG_FILES=str(conf), PYTHONWARNINGS="ignore")
        log = open(self.dir / "gunicorn.log", "wb")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [str(self.venv / "bin" / "gunicorn")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.dir,
            start_new_session=True,
        )
        log.close()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise KeystoneUnavailable(f"Keystone exited with {self.proc.returncode}:\n{self._log_tail()}")
            try:
                if httpx.get(self.v3, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise KeystoneUnavailable(
            f"Keystone did not answer on {self.v3} within {START_TIMEOUT:.0f} s:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        tails = []
        for name in ("gunicorn.log", "keystone.log"):
            path = self.dir / name
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-25:]
                tails.append(f"--- {name}\n" + "\n".join(lines))
        return "\n".join(tails)

    # -- identity API -------------------------------------------------------------------------
    def api(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        """An identity call as the cloud admin; asserts the status, returns the body."""
        headers = {"X-Auth-Token": self._admin_token or "", **kwargs.pop("headers", {})}
        response = self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code != expect:
            raise AssertionError(f"Keystone {method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def issue_token(self, user: str, password: str, project: str) -> str:
        """A project-scoped token for `user` (password auth), as a client would get one."""
        response = self.http.post(
            "/auth/tokens",
            json={
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {"name": user, "domain": {"id": "default"}, "password": password}
                        },
                    },
                    "scope": {"project": {"name": project, "domain": {"id": "default"}}},
                }
            },
        )
        if response.status_code != 201:
            raise AssertionError(f"token for {user}: {response.status_code} {response.text}")
        return response.headers["X-Subject-Token"]

    def revoke(self, token: str) -> None:
        self.api("DELETE", "/auth/tokens", 204, headers={"X-Subject-Token": token})

    def role(self, name: str) -> str:
        """The id of role `name`, created when missing."""
        if not self._roles:
            self._roles = {r["name"]: r["id"] for r in self.api("GET", "/roles", 200)["roles"]}
        if name not in self._roles:
            self._roles[name] = self.api("POST", "/roles", 201, json={"role": {"name": name}})["role"]["id"]
        return self._roles[name]

    def project(self, name: str) -> str:
        found = self.api("GET", f"/projects?name={name}", 200)["projects"]
        if found:
            return str(found[0]["id"])
        return str(
            self.api("POST", "/projects", 201, json={"project": {"name": name, "domain_id": "default"}})[
                "project"
            ]["id"]
        )

    def user(self, name: str, project: str, roles: tuple[str, ...], password: str | None = None) -> User:
        """A new user with `roles` on `project` (created when missing)."""
        password = password or secrets.token_urlsafe(16)
        project_id = self.project(project)
        user_id = self.api(
            "POST", "/users", 201, json={"user": {"name": name, "domain_id": "default", "password": password}}
        )["user"]["id"]
        for role in roles:
            self.api("PUT", f"/projects/{project_id}/users/{user_id}/roles/{self.role(role)}", 204)
        return User(name, user_id, project, project_id, password)

    def add_endpoint(self, service_type: str, name: str, url: str) -> None:
        """A catalog entry (public, internal and admin interfaces) for `service_type`."""
        service = self.api(
            "POST", "/services", 201, json={"service": {"type": service_type, "name": name, "enabled": True}}
        )["service"]["id"]
        for interface in ("public", "internal", "admin"):
            self.api(
                "POST",
                "/endpoints",
                201,
                json={
                    "endpoint": {
                        "service_id": service,
                        "interface": interface,
                        "url": url,
                        "region_id": "RegionOne",
                    }
                },
            )

    def short_lived_token(self, user: User, seconds: float) -> tuple[str, datetime.datetime]:
        """A token that Keystone itself expires in about `seconds`.

        Keystone caps a token's expiry at that of the application credential it was issued
        for, so a credential expiring soon gives a real short-lived token without a
        second Keystone configured with a short `[token] expiration`.
        """
        token = self.issue_token(user.name, user.password, user.project)
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
        credential = self.http.post(
            f"/users/{user.id}/application_credentials",
            headers={"X-Auth-Token": token},
            json={
                "application_credential": {
                    "name": f"short-{secrets.token_hex(4)}",
                    "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%f"),
                }
            },
        )
        if credential.status_code != 201:
            raise AssertionError(f"application credential: {credential.status_code} {credential.text}")
        body = credential.json()["application_credential"]
        response = self.http.post(
            "/auth/tokens",
            json={
                "auth": {
                    "identity": {
                        "methods": ["application_credential"],
                        "application_credential": {"id": body["id"], "secret": body["secret"]},
                    }
                }
            },
        )
        if response.status_code != 201:
            raise AssertionError(f"token from application credential: {response.status_code} {response.text}")
        return response.headers["X-Subject-Token"], expires


SERVICE_USER = "octavia"
PROJECT_A, PROJECT_B = "project-a", "project-b"


@dataclasses.dataclass
class Cloud:
    """A started Keystone with the test projects and one user per role."""

    server: KeystoneServer
    service: User
    users: dict[tuple[str, str], User]  # (project, role) -> user
    _tokens: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def seed(cls, server: KeystoneServer, roles_a: tuple[str, ...], roles_b: tuple[str, ...]) -> Cloud:
        """Projects A and B with a user per role, and Ostia's service user (role `service`)."""
        service = server.user(SERVICE_USER, "service", ("service",))
        users = {
            (PROJECT_A, role): server.user(f"{PROJECT_A}-{role}", PROJECT_A, (role,)) for role in roles_a
        }
        users.update(
            {(PROJECT_B, role): server.user(f"{PROJECT_B}-{role}", PROJECT_B, (role,)) for role in roles_b}
        )
        return cls(server, service, users)

    def user(self, role: str, project: str = PROJECT_A) -> User:
        if role == "service":
            return self.service
        return self.users[(project, role)]

    def token(self, role: str, project: str = PROJECT_A) -> str:
        """A token of the `role` user of `project`, issued once per run."""
        user = self.user(role, project)
        if user.name not in self._tokens:
            self._tokens[user.name] = self.server.issue_token(user.name, user.password, user.project)
        return self._tokens[user.name]

    def authtoken_options(self, **extra: Any) -> dict[str, dict[str, Any]]:
        """Configuration overrides for an Ostia API that authenticates with this Keystone."""
        return {
            "api_settings": {"auth_strategy": "keystone", **extra.pop("api_settings", {})},
            "keystone_authtoken": {
                "auth_url": self.server.v3,
                "www_authenticate_uri": self.server.v3,
                "auth_type": "password",
                "username": self.service.name,
                "password": self.service.password,
                "project_name": "service",
                "user_domain_name": "Default",
                "project_domain_name": "Default",
                **extra,
            },
        }
