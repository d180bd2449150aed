"""The provider door: what the API asks of a provider after it stored a change.

The API owns the database; a provider only hears "load balancer X changed" after the
API's transaction committed (or, `complete_on_store`, has the API settle the graph inside
that transaction), and answers validation questions before it. Providers
reach back through `ProviderHooks`, never through the database, so that drivers keep
depending on `common` only.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ostia.common import constants as c
from ostia.common import exceptions as exc


@dataclass(frozen=True)
class ProviderHooks:
    # Settle the LB's graph in the database at once (no data plane to wait for).
    settle: Callable[[str], None]
    # Ask a worker to reconcile the LB (oslo.messaging cast or in-process call).
    wake: Callable[[str], None]


class ProviderDriver(abc.ABC):
    """One provider named in `[api_settings] enabled_provider_drivers`."""

    supported_lb_algorithms: frozenset[str] = frozenset(c.LB_ALGORITHMS)
    supported_protocols: frozenset[str] = frozenset(c.LISTENER_PROTOCOLS + c.POOL_PROTOCOLS)
    # Appended to the refusal of a protocol: why it is not served.
    unsupported_protocol_reason = ""
    flavor_capabilities: tuple[tuple[str, str], ...] = ()
    availability_zone_capabilities: tuple[tuple[str, str], ...] = ()
    # A provider without a data plane: a change is complete as soon as it is stored, so
    # the API settles the graph in the transaction that stores the change and never calls
    # `load_balancer_changed`.
    complete_on_store: bool = False

    def __init__(self, name: str, hooks: ProviderHooks) -> None:
        self.name = name
        self.hooks = hooks

    @abc.abstractmethod
    def load_balancer_changed(self, lb_id: str) -> None:
        """Something under `lb_id` changed, was deleted or needs failover; make it so."""

    def check_lb_algorithm(self, algorithm: str) -> None:
        if algorithm not in self.supported_lb_algorithms:
            raise exc.ProviderUnsupported(
                self.name, f"{self.name} provider does not support {algorithm} algorithm."
            )

    def check_protocol(self, protocol: str) -> None:
        """Listener and pool protocols this provider can serve (501 otherwise)."""
        if protocol not in self.supported_protocols:
            raise exc.ProviderUnsupported(
                self.name,
                f"{self.name} provider does not support {protocol} protocol."
                f"{self.unsupported_protocol_reason}",
            )

    def validate_flavor(self, metadata: dict[str, Any]) -> None:
        _check_capabilities(self.name, metadata, self.flavor_capabilities, "flavor")

    def validate_availability_zone(self, metadata: dict[str, Any]) -> None:
        _check_capabilities(self.name, metadata, self.availability_zone_capabilities, "availability zone")


def _check_capabilities(
    provider: str, metadata: dict[str, Any], capabilities: tuple[tuple[str, str], ...], what: str
) -> None:
    known = {name for name, _ in capabilities}
    unknown = sorted(set(metadata) - known)
    if unknown:
        raise exc.ProviderUnsupported(provider, f"Unsupported {what} metadata keys: {', '.join(unknown)}")
