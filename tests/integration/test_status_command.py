"""`ostia status` on a deployment's database: the object tree, statuses and ERROR reasons."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ostia.db import models
from ostia.db.session import Database, create_db_engine

BIN = Path(sys.executable).parent


def test_status_shows_the_tree_with_operating_statuses_and_the_error_reason(tmp_path):
    conf = tmp_path / "octavia.conf"
    conf.write_text(f"[database]\nconnection = sqlite:///{tmp_path}/o.db\n\n[api_settings]\nbind_port = 1\n")
    subprocess.run(
        [str(BIN / "octavia-db-manage"), "--config-file", str(conf), "upgrade", "head"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    db = Database(create_db_engine(f"sqlite:///{tmp_path}/o.db"))
    try:
        with db.transaction() as session:
            lb = models.LoadBalancer(
                name="web",
                provisioning_status="ERROR",
                operating_status="ONLINE",
                project_id="p",
                last_error="listener 1: haproxy refused\nline 2",
            )
            session.add(lb)
            session.flush()
            listener = models.Listener(
                load_balancer_id=lb.id,
                name="http",
                protocol="HTTP",
                protocol_port=80,
                provisioning_status="ERROR",
                operating_status="OFFLINE",
                project_id="p",
            )
            pool = models.Pool(
                load_balancer_id=lb.id,
                name="backends",
                protocol="HTTP",
                lb_algorithm="ROUND_ROBIN",
                provisioning_status="ACTIVE",
                operating_status="DEGRADED",
                project_id="p",
            )
            session.add_all([listener, pool])
            session.flush()
            session.add(
                models.Member(
                    pool_id=pool.id,
                    ip_address="192.0.2.7",
                    protocol_port=8080,
                    provisioning_status="ACTIVE",
                    operating_status="ERROR",
                    project_id="p",
                )
            )
    finally:
        db.dispose()
    result = subprocess.run(
        [str(BIN / "ostia"), "status", "--config-file", str(conf)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("ERROR: listener 1: haproxy refused | line 2" in line for line in lines)
    tree = result.stdout.split("listeners, pools and members", 1)[1].splitlines()
    rows = {line.split()[0] + line.split()[1]: line.split() for line in tree[3:] if line}
    assert rows["listenerhttp"][-2:] == ["ERROR", "OFFLINE"]
    assert rows["poolbackends"][-2:] == ["ACTIVE", "DEGRADED"]
    member = next(line for line in tree if "192.0.2.7:8080" in line)
    assert member.startswith("    member") and member.split()[-2:] == ["ACTIVE", "ERROR"]
