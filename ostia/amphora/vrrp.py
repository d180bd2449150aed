"""VRRP (keepalived) on the amphora: an interface a namespace amphora implements.

A local amphora shares the host's network stack, so it cannot own a floating VIP: its
backend refuses with VrrpUnsupported, which the API answers with 501.
"""

from __future__ import annotations

import abc

from ostia.amphora.program_error import ProgramError

ACTIONS = ("start", "stop", "reload")


class VrrpUnsupported(Exception):
    pass


class VrrpError(ProgramError):
    """keepalived did not do what was asked; `details` holds its own words."""


class VrrpBackend(abc.ABC):
    @abc.abstractmethod
    def upload_config(self, config: bytes) -> None:
        """Store keepalived.conf (upstream: `<base_path>/vrrp/octavia-keepalived.conf`)."""

    @abc.abstractmethod
    def action(self, action: str) -> str:
        """start, stop or reload keepalived; return the message details."""

    def suppresses_heartbeat(self) -> bool:
        """True when keepalived is configured but not running (no heartbeat is sent then,
        so the controller fails the amphora over)."""
        return False

    def supervise(self) -> None:
        """Called once at the agent's start: watch what runs (nothing to do by default)."""
        return None


class LocalVrrp(VrrpBackend):
    reason = (
        "VRRP is not available on a local amphora: it shares the host's network "
        "stack. Use namespace amphorae (compute_netns_driver) for ACTIVE_STANDBY."
    )

    def upload_config(self, config: bytes) -> None:
        raise VrrpUnsupported(self.reason)

    def action(self, action: str) -> str:
        raise VrrpUnsupported(self.reason)
