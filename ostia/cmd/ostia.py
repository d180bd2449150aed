"""`ostia`: the all-in-one service and the operator's tools beside Octavia's commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ostia.cmd import allinone, runtime


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ostia", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run API, worker, health manager and housekeeper")
    up.add_argument("--host", help="API address (default 127.0.0.1)")
    up.add_argument("--port", type=int, help="API port (default 9876)")
    up.add_argument("--state-dir", help="state directory (default $OSTIA_HOME or "
                                        "~/.local/share/ostia)")
    up.add_argument("--config-file", action="append", dest="config_files", metavar="PATH",
                    help="extra config applied over the generated one (repeatable)")
    up.add_argument("--init-db", action="store_true",
                    help="create the schema in a database that exists but holds none (an "
                         "empty or foreign file); without it such a database stops ostia up")

    up.add_argument("--netns", action="store_true",
                    help="namespace amphorae (root): compute_netns_driver and "
                         "network_netns_driver instead of the local drivers")

    netns = commands.add_parser("netns", help="namespace amphorae")
    netns_commands = netns.add_subparsers(dest="netns_command", required=True)
    netns_cleanup = netns_commands.add_parser(
        "cleanup", help="remove every ost-* namespace, link and nftables table and the "
                        "processes in them")
    netns_cleanup.add_argument("--prefix", help=argparse.SUPPRESS)  # tests: only their own

    down = commands.add_parser("down", help="stop a running `ostia up`")
    down.add_argument("--state-dir")
    down.add_argument("--purge", action="store_true",
                      help="also remove every amphora it started")

    status = commands.add_parser("status", help="services, load balancers and amphorae")
    status.add_argument("--state-dir", help="an `ostia up` state directory")
    status.add_argument("--config-file", action="append", dest="config_files", metavar="PATH",
                        help="octavia.conf of a deployment of the four services instead")

    certs = commands.add_parser("certs", help="certificates")
    certs_commands = certs.add_subparsers(dest="certs_command", required=True)
    create = certs_commands.add_parser("create", help="create CAs and the controller's "
                                                      "client certificate")
    create.add_argument("--dir", default="/etc/octavia/certs")
    create.add_argument("--passphrase", help="CA key passphrase (default: generated)")
    store = certs_commands.add_parser(
        "store", help="store a TLS container (certificate + key) for listeners and pools; "
                      "prints its reference")
    store.add_argument("--cert", required=True, metavar="PEM")
    store.add_argument("--key", required=True, metavar="PEM")
    store.add_argument("--intermediates", metavar="PEM")
    store.add_argument("--passphrase", help="passphrase of an encrypted key")
    secret = certs_commands.add_parser(
        "store-secret", help="store a CA bundle or a CRL (PEM); prints its reference")
    secret.add_argument("--file", required=True, metavar="PEM")
    for sub in (store, secret):
        sub.add_argument("--state-dir", help="an `ostia up` state directory")
        sub.add_argument("--config-file", action="append", dest="config_files",
                         metavar="PATH", help="octavia.conf naming [certificates] storage")

    config = commands.add_parser("config", help="configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    config_commands.add_parser("sample", help="print a sample octavia.conf")
    return parser


def certs_store(args: argparse.Namespace) -> int:
    """Put a tenant's certificate (or CA/CRL) where the configured cert manager finds it."""
    from ostia.common import exceptions
    from ostia.drivers.loader import load_driver

    if args.config_files:
        conf = runtime.load(args.config_files, "ostia", check_drivers=False)
    else:
        state = Path(args.state_dir) if args.state_dir else allinone.default_state_dir()
        conf = runtime.load([str(state / allinone.CONFIG_NAME)], "ostia", check_drivers=False)
    manager = load_driver("octavia.cert_manager", conf.certificates.cert_manager, conf)
    try:
        if args.certs_command == "store-secret":
            ref = manager.store_secret("", _read(args.file))
        else:
            ref = manager.store_cert(
                "", _read(args.cert), _read(args.key),
                _read(args.intermediates) if args.intermediates else None, args.passphrase)
    except exceptions.CertificateError as err:
        runtime.fail(f"not stored: {err}")
    print(ref)
    return 0


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        runtime.fail(f"cannot read {path}: {err.strerror}")


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
    args = _parser().parse_args(argv)
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
        return certs_create(args) if args.certs_command == "create" else certs_store(args)
    return config_sample(args)


if __name__ == "__main__":
    sys.exit(main())
