"""`ostia certs store|store-secret|list|delete`: tenants' certificates in the cert manager.

They act on the deployment a listener would read them from: `--config-file` (four
services), else `--state-dir`, $OSTIA_HOME or the running `ostia up` (see instances.py).
A reference is printed only once everything is written; a failed store leaves nothing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

from oslo_config import cfg

from ostia.cmd import instances, runtime

CONFIG_NAME = "octavia.conf"


def add_commands(certs_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    store = certs_commands.add_parser(
        "store",
        help="store a TLS container (certificate + key) for listeners and pools; prints its reference",
    )
    store.add_argument("--cert", required=True, metavar="PEM")
    store.add_argument("--key", required=True, metavar="PEM")
    store.add_argument("--intermediates", metavar="PEM")
    store.add_argument("--passphrase", help="passphrase of an encrypted key")
    secret = certs_commands.add_parser(
        "store-secret", help="store a CA bundle or a CRL (PEM); prints its reference"
    )
    secret.add_argument("--file", required=True, metavar="PEM")
    listing = certs_commands.add_parser("list", help="stored certificates and secrets")
    delete = certs_commands.add_parser(
        "delete", help="delete stored certificates or secrets (refused while in use)"
    )
    delete.add_argument("refs", nargs="+", metavar="REF")
    for sub in (store, secret, listing, delete):
        sub.add_argument(
            "--state-dir",
            help="an `ostia up` state directory (default: $OSTIA_HOME, else the running instance)",
        )
        sub.add_argument(
            "--config-file",
            action="append",
            dest="config_files",
            metavar="PATH",
            help="octavia.conf naming [certificates] storage",
        )


def run(args: argparse.Namespace) -> int:
    conf = _conf(args)
    if args.certs_command == "list":
        return _list(conf)
    if args.certs_command == "delete":
        return _delete(conf, args.refs)
    return _store(conf, args)


def _conf(args: argparse.Namespace) -> cfg.ConfigOpts:
    if args.config_files:
        return runtime.load(args.config_files, "ostia", check_drivers=False)
    state = instances.chosen_state_dir(args.state_dir)
    config_path = state / CONFIG_NAME
    if not config_path.exists():
        runtime.fail(
            f"no Ostia deployment in {state} (no {CONFIG_NAME}): start it with "
            f"`ostia up`, or name it with --state-dir or --config-file"
        )
    return runtime.load([str(config_path)], "ostia", check_drivers=False)


def _manager(conf: cfg.ConfigOpts):  # type: ignore[no-untyped-def]
    from ostia.drivers.loader import load_driver

    return load_driver("octavia.cert_manager", conf.certificates.cert_manager, conf)


def _store(conf: cfg.ConfigOpts, args: argparse.Namespace) -> int:
    from ostia.common import exceptions

    manager = _manager(conf)
    try:
        if args.certs_command == "store-secret":
            ref = manager.store_secret("", _read(args.file))
        else:
            ref = manager.store_cert(
                "",
                _read(args.cert),
                _read(args.key),
                _read(args.intermediates) if args.intermediates else None,
                args.passphrase,
            )
    except exceptions.CertificateError as err:
        runtime.fail(f"not stored: {err}")
    except OSError as err:
        # A half-written container must not stay behind under an id nobody was given.
        runtime.fail(f"not stored: cannot write to {conf.certificates.storage_path}: {err.strerror or err}")
    print(ref)
    return 0


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        runtime.fail(f"cannot read {path}: {err.strerror}")


def _stored(conf: cfg.ConfigOpts) -> dict[str, str]:
    """Stored ids -> kind ("certificate" or "secret"), for the local cert manager."""
    storage = conf.certificates.storage_path
    if not storage or conf.certificates.cert_manager != "local_cert_manager":
        runtime.fail(
            f"listing needs [certificates] cert_manager = local_cert_manager "
            f"(this deployment uses {conf.certificates.cert_manager})"
        )
    try:
        names = os.listdir(storage)
    except FileNotFoundError:
        return {}
    found: dict[str, str] = {}
    for name in sorted(names):
        ident, _, suffix = name.rpartition(".")
        if suffix == "crt":
            found[ident] = "certificate"
        elif suffix == "secret":
            found.setdefault(ident, "secret")
    return found


def _list(conf: cfg.ConfigOpts) -> int:
    from ostia.controller.status_report import table

    stored = _stored(conf)
    usage = _usage(conf)
    rows = []
    for ident, kind in stored.items():
        subject, expires = _describe(Path(conf.certificates.storage_path), ident, kind)
        rows.append([ident, kind, subject, expires, ", ".join(usage.get(ident, [])) or "-"])
    print(f"stored in {conf.certificates.storage_path} ({len(rows)})")
    if rows:
        print(table(["ref", "kind", "subject", "expires", "used by"], rows))
    return 0


def _describe(storage: Path, ident: str, kind: str) -> tuple[str, str]:
    from cryptography import x509

    suffix = ".crt" if kind == "certificate" else ".secret"
    try:
        data = (storage / (ident + suffix)).read_bytes()
        if b"BEGIN X509 CRL" in data:
            return "CRL", "-"
        cert = x509.load_pem_x509_certificate(data)
    except (OSError, ValueError):
        return "?", "?"
    names = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    subject = str(names[0].value) if names else cert.subject.rfc4514_string()
    expires = cert.not_valid_after_utc
    late = " (expired)" if expires < datetime.datetime.now(datetime.UTC) else ""
    return subject, expires.strftime("%Y-%m-%d") + late


def _usage(conf: cfg.ConfigOpts) -> dict[str, list[str]]:
    """Stored id -> listeners and pools that reference it (read from the database)."""
    from sqlalchemy import select

    from ostia.common import constants as c
    from ostia.db import models
    from ostia.db.session import Database
    from ostia.drivers.certs.local_manager import ref_id

    def ident(ref: str | None) -> str | None:
        try:
            return ref_id(ref) if ref else None
        except Exception:  # noqa: BLE001 - an unusable reference names no stored file
            return None

    usage: dict[str, list[str]] = {}
    db = Database.from_config(conf)
    try:
        with db.transaction() as session:
            for listener in session.scalars(
                select(models.Listener).where(models.Listener.provisioning_status != c.DELETED)
            ):
                refs = [
                    listener.tls_certificate_id,
                    listener.client_ca_tls_certificate_id,
                    listener.client_crl_container_id,
                    *(listener.sni_container_refs or []),
                ]
                for ref in refs:
                    if (found := ident(ref)) is not None:
                        usage.setdefault(found, []).append(f"listener {listener.id}")
            for pool in session.scalars(
                select(models.Pool).where(models.Pool.provisioning_status != c.DELETED)
            ):
                for ref in (pool.tls_certificate_id, pool.ca_tls_certificate_id, pool.crl_container_id):
                    if (found := ident(ref)) is not None:
                        usage.setdefault(found, []).append(f"pool {pool.id}")
    except Exception as err:  # noqa: BLE001 - one line for a person, not a traceback
        runtime.fail(f"cannot read the database: {type(err).__name__}: {err}")
    finally:
        db.dispose()
    return usage


def _delete(conf: cfg.ConfigOpts, refs: list[str]) -> int:
    from ostia.common import exceptions
    from ostia.drivers.certs.local_manager import ref_id

    stored = _stored(conf)
    usage = _usage(conf)
    failed = 0
    for ref in refs:
        try:
            ident = ref_id(ref)
        except exceptions.CertificateNotFound:
            ident = ""
        if ident not in stored:
            print(f"error: no stored certificate or secret {ref}", file=sys.stderr)
            failed += 1
        elif ident in usage:
            print(f"error: {ref} is in use by {', '.join(usage[ident])}; not deleted", file=sys.stderr)
            failed += 1
        else:
            base = Path(conf.certificates.storage_path) / ident
            for suffix in (".crt", ".key", ".int", ".pass", ".secret"):
                base.with_name(ident + suffix).unlink(missing_ok=True)
            print(f"deleted {ident}")
    return 2 if failed else 0
