"""The noop provider: every change is complete as soon as it is stored (API-only use)."""

from __future__ import annotations

from ostia.drivers.provider.base import ProviderDriver


class NoopProviderDriver(ProviderDriver):
    flavor_capabilities = (("some_capability", "A capability the noop provider accepts."),)
    availability_zone_capabilities = (("some_zone_capability", "A capability the noop provider accepts."),)
    # The API settles each change in the transaction that stores it (`ProviderRegistry.stored`).
    complete_on_store = True

    def load_balancer_changed(self, lb_id: str) -> None:
        self.hooks.settle(lb_id)
