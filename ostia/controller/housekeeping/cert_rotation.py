"""Rotating amphora server certificates before they expire, without touching the data plane.

The agent swaps its TLS context on `PUT /1.0/certificate`; haproxy is not involved, so
traffic through the amphora is not interrupted. One claim per amphora (`cert_busy` set by
a conditional UPDATE) keeps two housekeepers from rotating the same amphora.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from oslo_config import cfg
from sqlalchemy import select, update

from ostia.common import constants as c
from ostia.controller.worker.configure import amphora_ref
from ostia.controller.worker.drivers import WorkerDrivers
from ostia.controller.worker.graph import AmphoraState
from ostia.db import models
from ostia.db.session import Database

LOG = logging.getLogger(__name__)
Amp = models.Amphora


def expiring(db: Database, conf: cfg.ConfigOpts, now: datetime.datetime) -> list[str]:
    horizon = now + datetime.timedelta(seconds=conf.house_keeping.cert_expiry_buffer)
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Amp.id).where(
                    Amp.status.notin_((c.DELETED, c.PENDING_DELETE)),
                    Amp.cert_busy.is_(False),
                    Amp.cert_expiration.is_not(None),
                    Amp.cert_expiration < horizon,
                    Amp.lb_network_ip.is_not(None),
                )
            )
        )


def _claim(db: Database, amphora_id: str) -> AmphoraState | None:
    with db.transaction() as session:
        result: Any = session.execute(
            update(Amp)
            .where(Amp.id == amphora_id, Amp.cert_busy.is_(False))
            .values(cert_busy=True)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:
            return None
        row = session.get(Amp, amphora_id)
        return AmphoraState.of(row) if row is not None else None


def rotate(db: Database, conf: cfg.ConfigOpts, drivers: WorkerDrivers, amphora_id: str) -> bool:
    """Give one amphora a fresh certificate; True when it took it."""
    amp = _claim(db, amphora_id)
    if amp is None:
        return False
    expiration = None
    try:
        certificate = drivers.cert_generator.generate_amphora_cert(amphora_id)
        drivers.amphora.upload_server_certificate(amphora_ref(conf, amp), certificate.pem)
        expiration = certificate.expiration
        LOG.info("rotated the certificate of amphora %s (valid until %s)", amphora_id, expiration.isoformat())
        return True
    except Exception:
        LOG.exception("certificate rotation of amphora %s failed; will retry", amphora_id)
        return False
    finally:
        values: dict[str, Any] = {"cert_busy": False}
        if expiration is not None:
            values["cert_expiration"] = expiration.replace(tzinfo=None)
        with db.transaction() as session:
            session.execute(update(Amp).where(Amp.id == amphora_id).values(**values))


def run_rotation(
    db: Database, conf: cfg.ConfigOpts, drivers: WorkerDrivers, now: datetime.datetime | None = None
) -> int:
    rotated = 0
    for amphora_id in expiring(db, conf, now or models.utcnow()):
        rotated += rotate(db, conf, drivers, amphora_id)
    return rotated
