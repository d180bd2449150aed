"""The on-disk layout of one local amphora and the agent configuration written into it.

    <amphora_dir>/<compute_id>/
        instance.json           amphora id, compute id, management address (the record that
                                makes the instance findable again after a controller restart)
        etc/server.pem          agent certificate + key        ([amphora_agent] agent_server_cert)
        etc/client_ca.pem       CA of the controller's client  ([amphora_agent] agent_server_ca)
        etc/amphora-agent.conf  the agent's only configuration file
        lb/                     [haproxy_amphora] base_path: haproxy configs, pids, sockets
        lb-certs/               [haproxy_amphora] base_cert_dir: listener certificates
        agent.log               the agent's stdout and stderr
        agent.pid               pid of the agent process

The compute id is a short random hex string rather than the amphora's UUID because haproxy
puts unix sockets under `lb/<lb_id>/` and a socket path may not exceed 107 bytes.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping

from oslo_config import cfg

# The drivers read their agents' pid files through this module.
from ostia.common.pid_file import read_pid as read_pid
from ostia.drivers.compute.base import AmphoraSpec

METADATA = "instance.json"


@dataclasses.dataclass(frozen=True)
class InstanceFiles:
    root: str

    @property
    def metadata(self) -> str:
        return os.path.join(self.root, METADATA)

    @property
    def etc_dir(self) -> str:
        return os.path.join(self.root, "etc")

    @property
    def server_pem(self) -> str:
        return os.path.join(self.etc_dir, "server.pem")

    @property
    def client_ca_pem(self) -> str:
        return os.path.join(self.etc_dir, "client_ca.pem")

    @property
    def agent_conf(self) -> str:
        return os.path.join(self.etc_dir, "amphora-agent.conf")

    @property
    def base_path(self) -> str:
        return os.path.join(self.root, "lb")

    @property
    def base_cert_dir(self) -> str:
        return os.path.join(self.root, "lb-certs")

    @property
    def agent_log(self) -> str:
        return os.path.join(self.root, "agent.log")

    @property
    def agent_pid(self) -> str:
        return os.path.join(self.root, "agent.pid")

    def haproxy_pid_files(self) -> list[str]:
        """Pid files of the haproxy masters the agent started (`lb/<lb_id>/<lb_id>.pid`)."""
        found = []
        try:
            names = os.listdir(self.base_path)
        except OSError:
            return []
        for name in names:
            candidate = os.path.join(self.base_path, name, f"{name}.pid")
            if os.path.isfile(candidate):
                found.append(candidate)
        return found


@dataclasses.dataclass(frozen=True)
class InstanceRecord:
    compute_id: str
    amphora_id: str
    lb_network_ip: str


def write_record(files: InstanceFiles, record: InstanceRecord) -> None:
    """Write instance.json atomically, so a reader never sees half a record."""
    temp = files.metadata + ".tmp"
    with open(temp, "w") as handle:
        json.dump(dataclasses.asdict(record), handle)
    os.replace(temp, files.metadata)


def read_record(files: InstanceFiles) -> InstanceRecord | None:
    """The record, or None when the file is missing or unreadable."""
    try:
        with open(files.metadata) as handle:
            data = json.load(handle)
        return InstanceRecord(
            compute_id=str(data["compute_id"]),
            amphora_id=str(data["amphora_id"]),
            lb_network_ip=str(data["lb_network_ip"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def merge_settings(
    *layers: Mapping[str, Mapping[str, str]],
) -> dict[str, dict[str, str]]:
    """Merge {section: {option: value}} layers; a later layer wins option by option."""
    merged: dict[str, dict[str, str]] = {}
    for layer in layers:
        for section, options in layer.items():
            merged.setdefault(section, {}).update({k: str(v) for k, v in options.items()})
    return merged


def render_agent_config(settings: Mapping[str, Mapping[str, str]]) -> str:
    """An ini file oslo.config reads; [DEFAULT] first, other sections sorted."""
    sections = sorted(settings, key=lambda name: (name != "DEFAULT", name))
    blocks = []
    for section in sections:
        lines = [f"[{section}]"]
        for option, value in sorted(settings[section].items()):
            if "\n" in value or "\r" in value:
                raise ValueError(f"[{section}] {option}: a value may not span lines")
            lines.append(f"{option} = {value}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def write_agent_files(
    files: InstanceFiles,
    spec: AmphoraSpec,
    record: InstanceRecord,
    conf: cfg.ConfigOpts,
    *,
    base_path: str,
    more_settings: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Make the instance's directories and write the agent's certificates and configuration.

    `base_path` is the [haproxy_amphora] base_path the agent is told (a short link to
    files.base_path where socket paths need one); `more_settings` adds sections only the
    driver knows.
    """
    for directory in (files.etc_dir, files.base_path, files.base_cert_dir):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    write_file(files.server_pem, spec.server_pem, 0o600)
    write_file(files.client_ca_pem, spec.client_ca_pem, 0o644)
    driver_settings = {
        "haproxy_amphora": {
            "bind_host": record.lb_network_ip,
            "bind_port": str(conf.haproxy_amphora.bind_port),
            "base_path": base_path,
            "base_cert_dir": files.base_cert_dir,
            "haproxy_cmd": conf.haproxy_amphora.haproxy_cmd,
        },
        "amphora_agent": {
            "agent_server_cert": files.server_pem,
            "agent_server_ca": files.client_ca_pem,
            "amphora_id": record.amphora_id,
        },
        **(more_settings or {}),
    }
    # What only the driver knows wins over the controller's choices.
    settings = merge_settings(spec.agent_settings, driver_settings)
    write_file(files.agent_conf, render_agent_config(settings).encode(), 0o600)


def write_file(path: str, data: bytes, mode: int) -> None:
    """Write `data` to `path` with permissions `mode` (also when the file existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)
