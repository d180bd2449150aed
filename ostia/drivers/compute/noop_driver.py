"""compute_noop_driver: instances that exist only in this process's memory (API-only use).

Nothing runs, so every instance is ACTIVE until deleted; addresses come from the
documentation range 192.0.2.0/24 onwards and are never handed out twice.
"""

from __future__ import annotations

import ipaddress
import threading
import uuid

from oslo_config import cfg

from ostia.drivers.compute.base import AmphoraSpec, ComputeDriver, ComputeInstance

_FIRST_ADDRESS = ipaddress.ip_address("192.0.2.1")


class NoopComputeDriver(ComputeDriver):
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        self._lock = threading.Lock()
        self._instances: dict[str, ComputeInstance] = {}
        self._next_address = 0

    def build(self, spec: AmphoraSpec) -> ComputeInstance:
        with self._lock:
            address = str(_FIRST_ADDRESS + self._next_address)
            self._next_address += 1
            instance = ComputeInstance(
                compute_id=str(uuid.uuid4()),
                amphora_id=spec.amphora_id,
                lb_network_ip=address,
                status="ACTIVE",
            )
            self._instances[instance.compute_id] = instance
        return instance

    def get(self, compute_id: str) -> ComputeInstance | None:
        with self._lock:
            return self._instances.get(compute_id)

    def delete(self, compute_id: str) -> None:
        with self._lock:
            self._instances.pop(compute_id, None)

    def list_instances(self) -> list[ComputeInstance]:
        with self._lock:
            return list(self._instances.values())
