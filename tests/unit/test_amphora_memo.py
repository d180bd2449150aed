"""Calls a member change spares a running amphora (what the worker remembers of it, the UDP
listing), never a needed push or stop (noop drivers, SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.controller.worker import spares
from ostia.controller.worker.amphora_memo import AmphoraMemo
from ostia.controller.worker.configure import AmphoraPaths
from ostia.controller.worker.reconciler import Outcome
from ostia.db import models
from tests.support.worker_fakes import WorkerEnv, worker_env


@pytest.fixture
def env(db_url: str) -> Iterator[WorkerEnv]:
    with worker_env(db_url) as environment:
        yield environment


def add_member(env: WorkerEnv, lb_id: str, port: int) -> None:
    pool = env.lb(lb_id).pools[0]
    with env.db.transaction() as session:
        session.add(
            models.Member(
                project_id="p1",
                pool_id=pool.id,
                ip_address="127.0.0.1",
                protocol_port=port,
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.OFFLINE,
                enabled=True,
                weight=1,
            )
        )
    env.set_status(lb_id, c.PENDING_UPDATE)


def test_a_member_add_on_a_running_amphora_is_pushed_without_asking_again(env: WorkerEnv):
    lb_id = env.store_lb(members=1)
    env.reconciler().reconcile(lb_id)
    add_member(env, lb_id, 9100)
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    # The agent answered and said where its files are at the create; the configuration it
    # runs is the one pushed then, which differs from the new one: no need to read it back.
    assert env.amphora_calls("wait_for_agent") == 0
    assert env.amphora_calls("get_haproxy_config") == 0
    (upload,) = env.amphora.calls_named("upload_haproxy_config")
    assert ":9100" in upload.args[1]
    assert env.amphora_calls("loadbalancer_action") == 1


def test_a_configuration_changed_behind_the_workers_back_is_pushed_again(env: WorkerEnv):
    lb_id = env.store_lb()
    env.reconciler().reconcile(lb_id)
    (amp,) = env.amphorae(lb_id)
    # Someone else (another worker, an operator on the amphora) replaced the configuration.
    env.amphora._configs[(amp.id, lb_id)] = "# another configuration\n"
    env.set_status(lb_id, c.PENDING_UPDATE)
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    assert env.amphora_calls("get_haproxy_config") == 1
    assert env.amphora_calls("upload_haproxy_config") == 1
    assert env.amphora._configs[(amp.id, lb_id)].startswith("# Configuration for loadbalancer")


def test_after_a_refused_push_the_configuration_is_read_back_first(
    env: WorkerEnv, monkeypatch: pytest.MonkeyPatch
):
    lb_id = env.store_lb(members=1)
    env.reconciler().reconcile(lb_id)
    (amp,) = env.amphorae(lb_id)

    def refuse(*args: object, **kwargs: object) -> None:
        raise exc.AgentInvalidRequest("Invalid request", "haproxy refused it (test)")

    monkeypatch.setattr(env.amphora, "loadbalancer_action", refuse)
    add_member(env, lb_id, 9100)
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.FAILED
    # Which configuration runs now is the agent's to say (it keeps the previous one).
    assert env.drivers.memo.config_md5(amp.id, lb_id) is None
    monkeypatch.undo()
    env.set_status(lb_id, c.PENDING_UPDATE)
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    # (A real agent put the previous configuration back, so the push follows; the noop
    # driver kept the refused upload, which matches.)
    assert env.amphora_calls("get_haproxy_config") == 1


def test_a_deleted_amphora_is_forgotten(env: WorkerEnv):
    lb_id = env.store_lb()
    env.reconciler().reconcile(lb_id)
    (amp,) = env.amphorae(lb_id)
    assert env.drivers.memo.paths(amp.id) is not None
    assert env.drivers.memo.config_md5(amp.id, lb_id) is not None
    env.set_status(lb_id, c.PENDING_DELETE)
    env.reconciler().reconcile(lb_id)
    assert env.drivers.memo.paths(amp.id) is None
    assert env.drivers.memo.config_md5(amp.id, lb_id) is None


def test_the_memo_keeps_the_most_recently_used_entries():
    memo = AmphoraMemo(capacity=2)
    for name in ("a", "b"):
        memo.learn_paths(name, AmphoraPaths(f"/srv/{name}", f"/srv/{name}/certs"))
    assert memo.paths("a") is not None  # used: "b" is now the oldest
    memo.learn_paths("c", AmphoraPaths("/srv/c", "/srv/c/certs"))
    assert memo.paths("b") is None
    assert memo.paths("a") == AmphoraPaths("/srv/a", "/srv/a/certs")
    memo.learn_config("a", "lb1", "md5-1")
    memo.learn_config("a", "lb2", "md5-2")
    memo.forget("a")
    assert memo.paths("a") is None
    assert memo.config_md5("a", "lb1") is None and memo.config_md5("a", "lb2") is None


def add_udp_listener(env: WorkerEnv, lb_id: str, port: int) -> str:
    with env.db.transaction() as session:
        listener = models.Listener(
            project_id="p1",
            protocol=c.UDP,
            protocol_port=port,
            load_balancer_id=lb_id,
            provisioning_status=c.PENDING_CREATE,
            operating_status=c.OFFLINE,
            connection_limit=-1,
            enabled=True,
        )
        session.add(listener)
        session.flush()
        listener_id = listener.id
    env.set_status(lb_id, c.PENDING_UPDATE)
    return listener_id


def set_listener_status(env: WorkerEnv, listener_id: str, status: str) -> None:
    with env.db.transaction() as session:
        listener = session.get(models.Listener, listener_id)
        assert listener is not None
        listener.provisioning_status = status


def test_a_member_change_without_udp_listeners_does_not_list_the_amphoras(env: WorkerEnv):
    lb_id = env.store_lb(members=1)
    env.reconciler().reconcile(lb_id)
    add_member(env, lb_id, 9100)
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    assert env.amphora_calls("list_listeners") == 0


def test_a_deleted_udp_listener_is_still_stopped_on_the_amphora(env: WorkerEnv):
    lb_id = env.store_lb(members=1)
    env.reconciler().reconcile(lb_id)
    udp_id = add_udp_listener(env, lb_id, 5353)
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    (amp,) = env.amphorae(lb_id)
    assert (amp.id, udp_id) in env.amphora._udp_configs
    set_listener_status(env, udp_id, c.PENDING_DELETE)
    env.set_status(lb_id, c.PENDING_UPDATE)
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    # The listener's row was there until the settle: the amphora was asked, and stopped it.
    assert env.amphora_calls("list_listeners") == 1
    assert [call.args for call in env.amphora.calls_named("delete_listeners")] == [(udp_id,)]
    assert (amp.id, udp_id) not in env.amphora._udp_configs
    assert all(li.id != udp_id for li in env.lb(lb_id).listeners)


def test_a_spare_this_process_started_is_configured_without_asking_its_agent_again(db_url: str):
    with worker_env(db_url, {"house_keeping": {"spare_amphora_pool_size": 1}}) as env:
        spare = spares.build_spare(env.conf, env.db, env.drivers)  # the housekeeper's call
        assert [call.amphora_id for call in env.amphora.calls_named("wait_for_agent")] == [spare.id]
        lb_id = env.store_lb()
        env.reset_counts()
        assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
        assert env.amphora_calls("wait_for_agent") == 0
        # Adopted: its VIP plugged and its configuration pushed and loaded all the same.
        assert [call.amphora_id for call in env.amphora.calls_named("plug_vip")] == [spare.id]
        assert env.amphora_calls("upload_haproxy_config") == 1
        assert env.amphora_calls("loadbalancer_action") == 1


def test_an_instance_built_again_is_waited_for(env: WorkerEnv):
    lb_id = env.store_lb()
    env.reconciler().reconcile(lb_id)
    (amp,) = env.amphorae(lb_id)
    # Its instance dies mid-update and the row goes back to building (as a crash leaves it).
    env.compute.kill(amp.compute_id)
    env.update(models.Amphora, amp.id, status=c.AMPHORA_BOOTING)
    env.set_status(lb_id, c.PENDING_UPDATE)
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    assert env.compute.calls["build"] == 1
    assert [call.amphora_id for call in env.amphora.calls_named("wait_for_agent")] == [amp.id]
