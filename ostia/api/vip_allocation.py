"""VIP addresses for new load balancers: the next free one after a per-subnet cursor.

Reading every address of a subnet on each create made a create cost O(load balancers) (10 of
its 17 ms with 6,000 of them). Each subnet now has a row in `vip_allocation_cursor`: where the
next search starts. A create locks the rows of its subnets (SELECT ... FOR UPDATE, in subnet
order: concurrent creates in one subnet take turns on PostgreSQL; on SQLite the write lock
already serializes writers), asks the network driver for the first address from the cursor
on that no live load balancer holds, one indexed lookup per candidate, and moves the cursor
past it. An address a deleted load balancer gave back is handed out again on request, or
when the search wraps around past the end of the subnet.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, exists, insert, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ostia.common import constants as c
from ostia.db import models
from ostia.db.session import SEND_LATER
from ostia.drivers.network import base as net

LB = models.LoadBalancer
Cursor = models.VipAllocationCursor
# Past this many candidates found taken, the search reads the whole subnet's addresses at
# once (a crowded stretch after a wrap, or a database from before the cursor existed).
MAX_LOOKUPS = 16

_LIVE = LB.provisioning_status != c.DELETED


def _held(subnet: Any, address: Any) -> Any:
    """EXISTS: a live load balancer holds `address` in `subnet` (as VIP or additional VIP)."""
    return or_(
        *(
            exists()
            .where(table.subnet_id == subnet, table.ip_address == address)
            .where(LB.id == table.load_balancer_id, _LIVE)
            for table in (models.Vip, models.AdditionalVip)
        )
    )


_HOLDS_ADDRESS = select(_held(bindparam("subnet"), bindparam("address")))
_ALL_HELD = union_all(
    select(models.Vip.ip_address)
    .join(LB, LB.id == models.Vip.load_balancer_id)
    .where(models.Vip.subnet_id == bindparam("subnet"), _LIVE),
    select(models.AdditionalVip.ip_address)
    .join(LB, LB.id == models.AdditionalVip.load_balancer_id)
    .where(models.AdditionalVip.subnet_id == bindparam("subnet"), _LIVE),
)
# The cursor, locked, and whether its address is taken: most creates ask about no other.
_LOCK_CURSOR = (
    select(Cursor.next_address, _held(Cursor.subnet_id, Cursor.next_address))
    .where(Cursor.subnet_id == bindparam("subnet"))
    .with_for_update(of=Cursor)
)
_MOVE_CURSOR = (
    update(Cursor).where(Cursor.subnet_id == bindparam("subnet")).values(next_address=bindparam("following"))
)


class LiveAddresses:
    """The addresses live load balancers hold in one subnet, looked up one at a time
    (`known` answers some already); after `MAX_LOOKUPS` lookups it reads them all and
    answers from memory."""

    def __init__(self, conn: Connection, subnet_id: str, known: dict[str, bool]) -> None:
        self.conn = conn
        self.subnet_id = subnet_id
        self.known = known
        self.lookups = 0
        self._all: set[str] | None = None

    def __contains__(self, address: object) -> bool:
        if isinstance(address, str) and address in self.known:
            return self.known[address]
        if self._all is None and self.lookups >= MAX_LOOKUPS:
            rows = self.conn.execute(_ALL_HELD, {"subnet": self.subnet_id})
            self._all = {a for (a,) in rows if a}
        if self._all is not None:
            return address in self._all
        self.lookups += 1
        found = self.conn.execute(_HOLDS_ADDRESS, {"subnet": self.subnet_id, "address": address})
        return bool(found.scalar())


class VipAllocator:
    """Chooses VIP addresses in the subnets of one create, holding their cursors' locks
    until the transaction ends."""

    def __init__(self, session: Session, network: net.NetworkDriver, subnet_ids: Iterable[str]) -> None:
        self.session = session
        self.network = network
        # Always in the same order, so two creates that share subnets cannot deadlock.
        self.cursors = {subnet_id: _lock_cursor(session, subnet_id) for subnet_id in sorted(set(subnet_ids))}

    def allocate(self, subnet: net.Subnet, requested: str | None) -> net.VipAllocation:
        """`requested`, when given, if no live load balancer holds it; else the first free
        address from the cursor on (`net.AddressUnavailable` when there is none)."""
        if subnet.id not in self.cursors:
            self.cursors[subnet.id] = _lock_cursor(self.session, subnet.id)
        start, start_held = self.cursors[subnet.id]
        conn = self.session.connection()
        known = {start: start_held} if start is not None else {}
        held = LiveAddresses(conn, subnet.id, known)
        allocation = self.network.allocate_vip(subnet, requested, held, start)
        if requested is None:
            following = net.next_address(allocation.ip_address)
            conn.execute(
                _MOVE_CURSOR, {"subnet": subnet.id, "following": following}, execution_options=SEND_LATER
            )
            self.cursors[subnet.id] = (following, False)  # a second VIP in one subnet is refused
        return allocation


def _lock_cursor(session: Session, subnet_id: str) -> tuple[str | None, bool]:
    """Lock the subnet's cursor row (made on the subnet's first create); return where its
    search starts (None: from the lowest address) and whether a load balancer holds that."""
    conn = session.connection()
    row = conn.execute(_LOCK_CURSOR, {"subnet": subnet_id}).first()
    if row is None:
        try:
            # A savepoint: a concurrent first create may insert the same row first.
            with conn.begin_nested():
                conn.execute(insert(Cursor).values(subnet_id=subnet_id, next_address=None))
        except IntegrityError:
            pass
        row = conn.execute(_LOCK_CURSOR, {"subnet": subnet_id}).first()
    return (row[0], bool(row[1])) if row is not None else (None, False)
