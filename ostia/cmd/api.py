"""octavia-api: the v2 REST API alone (workers elsewhere, woken over oslo.messaging)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ostia.api.app import create_app
from ostia.cmd import http_server, runtime
from ostia.db.session import Database


def main(argv: Sequence[str] | None = None) -> int:
    parser = runtime.config_file_parser("octavia-api", "Serve the Octavia v2 API.")
    args = parser.parse_args(argv)
    conf = runtime.load(args.config_files, "octavia-api")
    db = Database.from_config(conf)
    app = create_app(conf, db)
    settings = conf.api_settings
    http_server.serve(app, settings.bind_host, settings.bind_port, settings.tls_certfile,
                      settings.tls_keyfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
