"""Replay protection: which heartbeat of an amphora may follow the last one accepted.

Ostia's agent sends a random `boot_id`, new at every start of the agent, and counts `seq`
from 0 within a boot. A heartbeat is accepted when it
- continues the current boot: its seq is above the last one and not further ahead than
  the bound below;
- starts a boot never seen before, with a seq that a new boot can have reached by now
  (the same bound, counted from 0).
It is refused when its seq is not above the last of its boot (`replayed`), when its boot
is one the amphora has left (`old_boot`: a captured datagram of an earlier run), when it
runs too far ahead (`seq_jump`), or when it carries no boot id although the amphora has
sent one (`no_boot_id`: a datagram from before the agent knew boot ids).

The bound: `window + 2 * (heartbeat intervals since the amphora was last heard)`. An agent
sends one heartbeat per interval (more after configuration changes, hence the window),
round-robin over the managers; lost datagrams only leave gaps. So a genuine heartbeat
stays within the bound even after a long silence, while one signed datagram with a huge
seq (a long-gone boot's, or a forged one) cannot lift the last seq out of reach of every
genuine heartbeat after it.

Upstream amphorae send no boot id. Their heartbeats keep the older rule: a seq below
min(last, RESTART_WINDOW) is taken for a restarted agent; the same bound applies ahead.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# A restarted upstream agent counts from 0 again: a seq below this (and below the last
# one) is taken for a restart, not a replay. Generous, because the first heartbeat a
# manager sees after a restart may be a later one: amphorae send round-robin to every
# manager, and datagrams get lost.
RESTART_WINDOW = 100
# Boots an amphora has left that are still recognised (and refused) as such.
KEPT_BOOTS = 8
BOOT_ID_LENGTH = 36
BOOT_IDS_COLUMN_LENGTH = KEPT_BOOTS * (BOOT_ID_LENGTH + 1)
_BOOT_ID = re.compile(rf"[0-9A-Za-z-]{{1,{BOOT_ID_LENGTH}}}")


def valid_boot_id(value: object) -> bool:
    """A boot id the amphora_health columns hold (and that joins with spaces)."""
    return isinstance(value, str) and _BOOT_ID.fullmatch(value) is not None


class SequenceState(NamedTuple):
    """Where an amphora's heartbeats stand: the last accepted seq, its boot, when.

    A tuple, not a dataclass: one is made per accepted datagram, on the receiving path.
    """

    seq: int
    heard_at: float  # epoch seconds of the last accepted heartbeat
    boot_id: str | None = None  # None: an upstream amphora (or not yet known)
    previous_boot_ids: tuple[str, ...] = ()  # boots it has left, newest first

    def joined_previous(self) -> str | None:
        return " ".join(self.previous_boot_ids) or None

    @staticmethod
    def split_previous(value: str | None) -> tuple[str, ...]:
        return tuple(part for part in (value or "").split() if valid_boot_id(part))


def ahead_bound(last: SequenceState, now: float, window: int, interval: float) -> int:
    """How far ahead of `last` a genuine heartbeat's seq can be at `now`."""
    silence = max(0.0, now - last.heard_at)
    return window + 2 * (int(silence / max(interval, 0.1)) + 1)


def judge(
    last: SequenceState | None, boot_id: str | None, seq: int, now: float, window: int, interval: float
) -> SequenceState | str:
    """The new state if the heartbeat is accepted, else the reason it is refused."""
    if last is None:
        return SequenceState(seq, now, boot_id)
    bound = ahead_bound(last, now, window, interval)
    if boot_id is None:
        if last.boot_id is not None:
            return "no_boot_id"
        restarted = seq < min(last.seq, RESTART_WINDOW)
        if seq <= last.seq and not restarted:
            return "replayed"
        if seq - last.seq > bound:
            return "seq_jump"
        return SequenceState(seq, now)
    if boot_id == last.boot_id:
        if seq <= last.seq:
            return "replayed"
        if seq - last.seq > bound:
            return "seq_jump"
        return SequenceState(seq, now, boot_id, last.previous_boot_ids)
    if boot_id in last.previous_boot_ids:
        return "old_boot"
    # A boot not seen before: a new start counts from 0. When the last boot is unknown
    # (an amphora first heard without a boot id, or a row written before boot ids were
    # kept) it may also be the same run continuing.
    continues = last.boot_id is None and last.seq < seq <= last.seq + bound
    if seq > bound and not continues:
        return "seq_jump"
    left = ((last.boot_id,) if last.boot_id else ()) + last.previous_boot_ids
    return SequenceState(seq, now, boot_id, left[:KEPT_BOOTS])
