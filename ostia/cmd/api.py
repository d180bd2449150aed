"""octavia-api: the v2 REST API alone (workers elsewhere, woken over oslo.messaging)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import uvicorn

from ostia.api.app import create_app
from ostia.cmd import runtime
from ostia.db.session import Database


def main(argv: Sequence[str] | None = None) -> int:
    parser = runtime.config_file_parser("octavia-api", "Serve the Octavia v2 API.")
    args = parser.parse_args(argv)
    conf = runtime.load(args.config_files, "octavia-api")
    db = Database.from_config(conf)
    app = create_app(conf, db)
    settings = conf.api_settings
    uvicorn.run(app, host=settings.bind_host, port=settings.bind_port, log_level="warning",
                ssl_certfile=settings.tls_certfile, ssl_keyfile=settings.tls_keyfile,
                timeout_graceful_shutdown=3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
