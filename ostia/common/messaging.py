"""oslo.messaging wake-ups from the API to controller workers.

One topic (`[oslo_messaging] topic`), one method: `reconcile(lb_id=...)`, cast (no reply).
A message carries no desired state: the database holds it, the message only says "look at
this load balancer soon". A lost message delays work until the workers' next sweep.

oslo.messaging registers its own options, some under names that Ostia's configuration
also declares (`transport_url`), so it gets a private ConfigOpts that reads the same
configuration files; `[oslo_messaging_rabbit]` and friends are honoured from there.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oslo_config import cfg

if TYPE_CHECKING:
    import oslo_messaging as om

LOG = logging.getLogger(__name__)

CONTROL_EXCHANGE = "octavia"  # upstream forces this exchange for its RPC
RPC_NAMESPACE = "controller"
RPC_VERSION = "2.0"
# A cast gives up after this many reconnection attempts instead of blocking an API request
# forever while the broker is down; the worker's sweep covers the lost wake-up.
CAST_RETRIES = 2


def _oslo_messaging() -> Any:
    """oslo.messaging, imported on first use and without its eventlet deprecation banner
    (it would break the one-line error output of commands that never use a broker)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
        import oslo_messaging

    return oslo_messaging


def messaging_conf(conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    """A private ConfigOpts for oslo.messaging that reads `conf`'s configuration files."""
    private = cfg.ConfigOpts()
    files = list(getattr(conf, "config_file", None) or [])
    private([], project="octavia", default_config_files=files, validate_default_values=False)
    # These groups are registered by oslo.messaging on the global CONF only, yet read from
    # whatever conf a client is given.
    from oslo_messaging._metrics import client as metrics_client
    from oslo_messaging._tracing import client as tracing_client

    private.register_opts(tracing_client.oslo_messaging_tracing, group="oslo_messaging_tracing")
    private.register_opts(metrics_client.oslo_messaging_metrics, group="oslo_messaging_metrics")
    return private


def get_transport(conf: cfg.ConfigOpts) -> om.Transport:
    """The RPC transport for `conf.transport_url` (which must be set)."""
    om = _oslo_messaging()
    if not conf.transport_url:
        raise ValueError("transport_url is not set: no message broker to talk to")
    om.set_transport_defaults(control_exchange=CONTROL_EXCHANGE)
    return om.get_rpc_transport(messaging_conf(conf), url=conf.transport_url)


def _target(conf: cfg.ConfigOpts, server: str | None = None) -> om.Target:
    return _oslo_messaging().Target(
        topic=conf.oslo_messaging.topic, server=server, namespace=RPC_NAMESPACE, version=RPC_VERSION
    )


class WakeCaster:
    """The API's `wake(lb_id)` when workers run elsewhere: a cast to the worker topic."""

    def __init__(self, conf: cfg.ConfigOpts, transport: om.Transport | None = None) -> None:
        self._owns_transport = transport is None
        self.transport = transport or get_transport(conf)
        self.client = _oslo_messaging().get_rpc_client(self.transport, _target(conf), retry=CAST_RETRIES)

    def __call__(self, lb_id: str) -> None:
        self.client.cast({}, "reconcile", lb_id=lb_id)

    def close(self) -> None:
        if self._owns_transport:
            self.transport.cleanup()


class WakeEndpoint:
    """RPC endpoint of a worker: hands each wake-up to the worker's queue at once."""

    def __init__(self, wake: Callable[[str], None]) -> None:
        self.target = _oslo_messaging().Target(namespace=RPC_NAMESPACE, version=RPC_VERSION)
        self._wake = wake

    def reconcile(self, ctxt: dict[str, Any], lb_id: str, **_ignored: Any) -> None:
        self._wake(lb_id)


class WakeServer:
    """An RPC server on the worker topic (threading executor) that calls `wake(lb_id)`."""

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        wake: Callable[[str], None],
        server: str,
        transport: om.Transport | None = None,
    ) -> None:
        self._owns_transport = transport is None
        self.transport = transport or get_transport(conf)
        self.server = _oslo_messaging().get_rpc_server(
            self.transport, _target(conf, server), [WakeEndpoint(wake)], executor="threading"
        )
        self._lock = threading.Lock()
        self._running = False

    def start(self) -> None:
        """Connect and consume; blocks until the broker is reachable."""
        self.server.start()
        with self._lock:
            self._running = True

    def stop(self) -> None:
        with self._lock:
            running, self._running = self._running, False
            owns, self._owns_transport = self._owns_transport, False
        if running:
            self.server.stop()
            self.server.wait()
        if owns:
            self.transport.cleanup()
