"""Listener statistics as the API answers them (a listener's, or a load balancer's sum)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostia.db import models

FIELDS = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")


def sum_statistics(session: Session, listener_ids: list[str]) -> dict[str, int]:
    """Statistics summed over listeners and over every amphora that served them."""
    totals = dict.fromkeys(FIELDS, 0)
    if not listener_ids:
        return totals
    stat = models.ListenerStatistics
    row = session.execute(
        select(*[func.coalesce(func.sum(getattr(stat, f)), 0) for f in FIELDS]).where(
            stat.listener_id.in_(listener_ids)
        )
    ).one()
    return {f: int(v) for f, v in zip(FIELDS, row, strict=True)}
