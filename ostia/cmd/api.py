"""octavia-api: the v2 REST API alone (workers elsewhere, woken over oslo.messaging)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from oslo_config import cfg

from ostia.api.app import create_app
from ostia.cmd import http_server, runtime
from ostia.common.config import ConfigError
from ostia.db.session import Database

if TYPE_CHECKING:
    from ostia.common.messaging import WakeCaster


def main(argv: Sequence[str] | None = None) -> int:
    parser = runtime.config_file_parser("octavia-api", "Serve the Octavia v2 API.")
    args = parser.parse_args(argv)
    conf = runtime.load(args.config_files, "octavia-api")
    runtime.require_schema(conf)
    settings = conf.api_settings
    try:
        sock = http_server.listen(settings.bind_host, settings.bind_port)
    except http_server.PortUnavailable as err:
        runtime.fail(str(err))
    db = Database.from_config(conf)
    wake = _wake_over_messaging(conf)
    try:
        app = create_app(conf, db, wake=wake)
    except ConfigError as err:  # e.g. auth_strategy = keystone without [keystone_authtoken]
        runtime.fail(str(err))
    # The ~200,000 objects of the loaded modules and the app live as long as the process:
    # out of the collector's sight, a full collection no longer walks them each time
    # answers pile up young objects (a 1,000-load-balancer list: 51 -> 36 ms of CPU).
    gc.freeze()
    try:
        http_server.serve(
            app,
            settings.bind_host,
            settings.bind_port,
            settings.tls_certfile,
            settings.tls_keyfile,
            sock=sock,
        )
    finally:
        if wake is not None:
            wake.close()
    return 0


def _wake_over_messaging(conf: cfg.ConfigOpts) -> WakeCaster | None:
    """Casts to the workers' topic when transport_url is set; else workers only sweep."""
    if not conf.transport_url:
        return None
    from ostia.common.messaging import WakeCaster

    try:
        return WakeCaster(conf)
    except Exception as err:  # noqa: BLE001 - a bad URL should stop the API in one line
        runtime.fail(f"cannot use transport_url: {type(err).__name__}: {err}")


if __name__ == "__main__":
    sys.exit(main())
