"""The drivers a worker uses, loaded once from `[controller_worker]` and `[certificates]`,
with what the worker last learnt from the amphorae through them (amphora_memo)."""

from __future__ import annotations

import dataclasses

from oslo_config import cfg

from ostia.controller.worker.amphora_memo import AmphoraMemo
from ostia.drivers.amphora.base import AmphoraDriver
from ostia.drivers.certs.base import CertGenerator, CertManager
from ostia.drivers.compute.base import ComputeDriver
from ostia.drivers.loader import load_driver
from ostia.drivers.network.base import NetworkDriver


@dataclasses.dataclass
class WorkerDrivers:
    compute: ComputeDriver
    network: NetworkDriver
    amphora: AmphoraDriver
    cert_generator: CertGenerator
    cert_manager: CertManager
    memo: AmphoraMemo = dataclasses.field(default_factory=AmphoraMemo)

    @classmethod
    def from_config(cls, conf: cfg.ConfigOpts) -> WorkerDrivers:
        worker = conf.controller_worker
        certs = conf.certificates
        return cls(
            compute=load_driver("octavia.compute.drivers", worker.compute_driver, conf),
            network=load_driver("octavia.network.drivers", worker.network_driver, conf),
            amphora=load_driver("octavia.amphora.drivers", worker.amphora_driver, conf),
            cert_generator=load_driver("octavia.cert_generator", certs.cert_generator, conf),
            cert_manager=load_driver("octavia.cert_manager", certs.cert_manager, conf),
        )
