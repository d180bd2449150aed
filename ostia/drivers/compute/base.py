"""Compute driver interface: start, find and delete amphora instances.

Where Octavia boots a Nova VM from an image with a config drive, an Ostia compute driver
starts an `amphora-agent` (as a local process or inside a network namespace) from an
`AmphoraSpec`: the amphora's id, its certificates and the agent settings the controller
chose. The driver adds what only it knows (management address, local paths) and writes
the agent's configuration file itself.
"""

from __future__ import annotations

import abc
import dataclasses

from ostia.common.exceptions import DriverError


class ComputeBuildError(DriverError):
    """The instance could not be started; whatever was made for it has been removed."""


class ComputeDeleteError(DriverError):
    """Something of the instance could not be stopped or removed; deleting again retries."""


@dataclasses.dataclass(frozen=True)
class AmphoraSpec:
    amphora_id: str
    # Server certificate and key (PEM) signed for CN = amphora_id.
    server_pem: bytes
    # CA that signs the controller's client certificate (the agent requires it).
    client_ca_pem: bytes
    # Controller-chosen agent settings: {section: {option: value}}, e.g.
    # {"health_manager": {"controller_ip_port_list": "127.0.0.1:5555", "heartbeat_key": ...,
    #  "heartbeat_interval": "10"}, "controller_worker": {"loadbalancer_topology": "SINGLE"}}
    agent_settings: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ComputeInstance:
    compute_id: str
    amphora_id: str
    lb_network_ip: str
    # ACTIVE (agent process alive), SHUTOFF (gone), or ERROR.
    status: str


class ComputeDriver(abc.ABC):
    """Starts amphorae. Capabilities a driver may lack are declared here, off by default;
    the worker reads them, it never probes a driver for methods."""

    # Amphorae with a network stack of their own, so that keepalived can move a VIP
    # between two of them (ACTIVE_STANDBY).
    supports_active_standby: bool = False

    def instance_paths(self, compute_id: str) -> tuple[str, str] | None:
        """([haproxy_amphora] base_path, base_cert_dir) the instance's agent uses, when the
        driver chose them (None: the agent's own report or the configured defaults apply)."""
        return None

    def network_namespace(self, compute_id: str) -> str | None:
        """The network namespace that receives the instance's hot-plugged ports (where a
        VM would see a new NIC); None when the instance has no network stack of its own."""
        return None

    @abc.abstractmethod
    def build(self, spec: AmphoraSpec) -> ComputeInstance:
        """Start an amphora; returns once its agent process exists (not yet answering)."""

    @abc.abstractmethod
    def get(self, compute_id: str) -> ComputeInstance | None:
        """The instance, or None if it does not exist."""

    @abc.abstractmethod
    def delete(self, compute_id: str) -> None:
        """Stop the amphora and everything it runs, remove its files; idempotent."""

    @abc.abstractmethod
    def list_instances(self) -> list[ComputeInstance]:
        """Every instance this driver started and that still exists (survives restarts)."""
