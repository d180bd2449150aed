"""`ostia`: the all-in-one service and the operator's tools beside Octavia's commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ostia.cmd import allinone, runtime
from ostia.cmd import certs as certs_cmd


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ostia", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run API, worker, health manager and housekeeper")
    up.add_argument("--host", help="API address (default 127.0.0.1)")
    up.add_argument("--port", type=int, help="API port (default 9876)")
    up.add_argument("--state-dir", help="state directory (default $OSTIA_HOME or ~/.local/share/ostia)")
    up.add_argument(
        "--config-file",
        action="append",
        dest="config_files",
        metavar="PATH",
        help="extra config applied over the generated one (repeatable)",
    )
    up.add_argument(
        "--init-db",
        action="store_true",
        help="create the schema in a database that exists but holds none (an "
        "empty or foreign file); without it such a database stops ostia up",
    )

    up.add_argument(
        "--netns",
        action="store_true",
        help="namespace amphorae (root): compute_netns_driver and "
        "network_netns_driver instead of the local drivers",
    )

    netns = commands.add_parser("netns", help="namespace amphorae")
    netns_commands = netns.add_subparsers(dest="netns_command", required=True)
    netns_cleanup = netns_commands.add_parser(
        "cleanup", help="remove every ost-* namespace, link and nftables table and the processes in them"
    )
    netns_cleanup.add_argument("--prefix", help=argparse.SUPPRESS)  # tests: only their own

    down = commands.add_parser("down", help="stop a running `ostia up`")
    down.add_argument("--state-dir", help="default: $OSTIA_HOME, else the running instance")
    down.add_argument(
        "--purge",
        action="store_true",
        help="also remove every amphora, the database (every load balancer) "
        "and stored TLS certificates; octavia.conf and the CAs stay",
    )

    status = commands.add_parser("status", help="services, load balancers and amphorae")
    status.add_argument("--state-dir", help="an `ostia up` state directory")
    status.add_argument(
        "--config-file",
        action="append",
        dest="config_files",
        metavar="PATH",
        help="octavia.conf of a deployment of the four services instead",
    )

    certs = commands.add_parser("certs", help="certificates")
    certs_commands = certs.add_subparsers(dest="certs_command", required=True)
    create = certs_commands.add_parser("create", help="create CAs and the controller's client certificate")
    create.add_argument("--dir", default="/etc/octavia/certs")
    create.add_argument("--passphrase", help="CA key passphrase (default: generated)")
    certs_cmd.add_commands(certs_commands)

    config = commands.add_parser("config", help="configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    config_commands.add_parser("sample", help="print a sample octavia.conf")
    return parser


def certs_create(args: argparse.Namespace) -> int:
    import secrets

    from ostia.drivers.certs.authority import create_certificates

    passphrase = args.passphrase or secrets.token_hex(16)
    try:
        files = create_certificates(args.dir, passphrase=passphrase)
    except OSError as err:
        runtime.fail(f"cannot write certificates to {args.dir}: {err.strerror or err}")
    print(f"certificates written to {args.dir}")
    print("add to octavia.conf:")
    print(files.octavia_conf_lines())
    return 0


def config_sample(_args: argparse.Namespace) -> int:
    from ostia.common.sample_config import sample_config

    sys.stdout.write(sample_config())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(_parser().parse_args(argv))
    except BrokenPipeError:
        # `ostia status | head -1`: the reader has gone; say nothing more, and keep Python
        # from complaining when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "up":
        return allinone.up(args)
    if args.command == "down":
        return allinone.down(args)
    if args.command == "status":
        return allinone.status(args)
    if args.command == "netns":
        from ostia.cmd import netns

        return netns.cleanup(args)
    if args.command == "certs":
        return certs_create(args) if args.certs_command == "create" else certs_cmd.run(args)
    return config_sample(args)


if __name__ == "__main__":
    sys.exit(main())
