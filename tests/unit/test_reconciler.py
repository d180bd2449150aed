"""The reconciler with noop drivers, on SQLite and PostgreSQL (the `db_url` fixture)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from ostia.common import constants as c
from ostia.controller.worker import failover, leases, spares
from ostia.controller.worker.reconciler import Outcome
from ostia.db import models
from tests.support.worker_fakes import WorkerEnv, worker_env


@pytest.fixture
def env(db_url: str) -> Iterator[WorkerEnv]:
    with worker_env(db_url) as environment:
        yield environment


def live(env: WorkerEnv, lb_id: str) -> list[models.Amphora]:
    return [a for a in env.amphorae(lb_id) if a.status != c.DELETED]


def test_create_builds_one_standalone_amphora_and_settles_everything_active(env: WorkerEnv):
    lb_id = env.store_lb()
    result = env.reconciler().reconcile(lb_id)
    assert result.outcome is Outcome.SETTLED
    lb = env.lb(lb_id)
    assert lb.provisioning_status == c.ACTIVE
    assert [li.provisioning_status for li in lb.listeners] == [c.ACTIVE]
    assert {m.provisioning_status for p in lb.pools for m in p.members} == {c.ACTIVE}
    assert lb.lease_owner is None and lb.lease_expires is None
    assert lb.reconcile_attempts == 0
    (amp,) = env.amphorae(lb_id)
    assert (amp.status, amp.role) == (c.AMPHORA_ALLOCATED, c.ROLE_STANDALONE)
    assert amp.compute_id and amp.lb_network_ip and amp.cert_expiration
    assert env.compute.calls["build"] == 1
    assert env.certs.generated == [amp.id]
    assert env.amphora_calls("plug_vip") == 1
    assert env.amphora_calls("upload_haproxy_config") == 1
    assert env.amphora_calls("loadbalancer_action") == 1
    spec = env.compute.specs[0]
    assert spec.agent_settings["health_manager"]["heartbeat_key"] == "test-key"
    assert spec.agent_settings["controller_worker"]["loadbalancer_topology"] == "SINGLE"


def test_reconciling_a_settled_lb_again_calls_no_driver(env: WorkerEnv):
    lb_id = env.store_lb()
    env.reconciler().reconcile(lb_id)
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SKIPPED
    assert sum(env.compute.calls.values()) == 0
    assert env.amphora.calls == []


def test_unchanged_graph_in_pending_update_pushes_nothing(env: WorkerEnv):
    lb_id = env.store_lb()
    env.reconciler().reconcile(lb_id)
    env.set_status(lb_id, c.PENDING_UPDATE)  # e.g. a name change: nothing to render
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    assert env.compute.calls["build"] == 0
    assert env.amphora_calls("upload_haproxy_config") == 0
    assert env.amphora_calls("loadbalancer_action") == 0
    assert env.lb(lb_id).provisioning_status == c.ACTIVE


def test_a_new_member_is_pushed_to_the_existing_amphora(env: WorkerEnv):
    lb_id = env.store_lb(members=1)
    env.reconciler().reconcile(lb_id)
    pool = env.lb(lb_id).pools[0]
    with env.db.transaction() as session:
        session.add(
            models.Member(
                project_id="p1",
                pool_id=pool.id,
                ip_address="127.0.0.1",
                protocol_port=9100,
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.OFFLINE,
                enabled=True,
                weight=1,
            )
        )
    env.set_status(lb_id, c.PENDING_UPDATE)
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    assert env.compute.calls["build"] == 0
    (upload,) = env.amphora.calls_named("upload_haproxy_config")
    assert ":9100" in upload.args[1]
    assert env.amphora_calls("loadbalancer_action") == 1
    members = env.lb(lb_id).pools[0].members
    assert sorted(m.provisioning_status for m in members) == [c.ACTIVE, c.ACTIVE]


def test_only_one_of_two_owners_gets_the_lease(env: WorkerEnv):
    lb_id = env.store_lb()
    assert leases.claim(env.db, lb_id, "worker-a", 30)
    assert not leases.claim(env.db, lb_id, "worker-b", 30)
    assert env.reconciler("worker-b").reconcile(lb_id).outcome is Outcome.SKIPPED
    assert env.compute.calls["build"] == 0
    assert leases.renew(env.db, lb_id, "worker-a", 30)
    assert not leases.renew(env.db, lb_id, "worker-b", 30)


def test_an_expired_lease_can_be_taken_and_the_old_owner_loses_it(env: WorkerEnv):
    lb_id = env.store_lb()
    assert leases.claim(env.db, lb_id, "worker-a", 30)
    env.update(models.LoadBalancer, lb_id, lease_expires=models.utcnow() - datetime.timedelta(seconds=1))
    assert leases.claim(env.db, lb_id, "worker-b", 30)
    assert not leases.renew(env.db, lb_id, "worker-a", 30)
    assert not leases.release(env.db, lb_id, "worker-a")
    assert env.lb(lb_id).lease_owner == "worker-b"


def test_a_lease_lost_mid_attempt_stops_the_worker_before_it_settles(env: WorkerEnv):
    lb_id = env.store_lb()
    reconciler = env.reconciler("worker-a")
    original_build = env.compute.build

    def build_then_lose_the_lease(spec):  # type: ignore[no-untyped-def]
        instance = original_build(spec)
        env.update(models.LoadBalancer, lb_id, lease_owner="worker-b")
        return instance

    env.compute.build = build_then_lose_the_lease  # type: ignore[method-assign]
    assert reconciler.reconcile(lb_id).outcome is Outcome.LOST
    lb = env.lb(lb_id)
    assert lb.provisioning_status == c.PENDING_CREATE
    assert lb.lease_owner == "worker-b"
    # The amphora is recorded, so the new owner adopts it instead of leaking it.
    (amp,) = env.amphorae(lb_id)
    assert amp.status == c.AMPHORA_BOOTING and amp.compute_id


def test_a_failing_step_is_retried_with_back_off_then_succeeds(env: WorkerEnv):
    lb_id = env.store_lb()
    env.compute.fail_builds = 1
    reconciler = env.reconciler()
    first = reconciler.reconcile(lb_id)
    assert first.outcome is Outcome.RETRY
    assert first.retry_in == pytest.approx(0.01)
    lb = env.lb(lb_id)
    assert lb.provisioning_status == c.PENDING_CREATE
    assert "compute build failed" in (lb.last_error or "")
    assert lb.lease_owner is None and lb.lease_expires is not None  # the back-off
    # Nobody may start the next attempt before the back-off ends.
    env.update(models.LoadBalancer, lb_id, lease_expires=models.utcnow() + datetime.timedelta(seconds=30))
    assert reconciler.reconcile(lb_id).outcome is Outcome.SKIPPED
    env.update(models.LoadBalancer, lb_id, lease_expires=models.utcnow())
    assert reconciler.reconcile(lb_id).outcome is Outcome.SETTLED
    assert env.lb(lb_id).provisioning_status == c.ACTIVE
    assert len(live(env, lb_id)) == 1


def test_retries_run_out_into_error_with_the_reason(env: WorkerEnv):
    lb_id = env.store_lb()
    env.compute.fail_builds = 100
    reconciler = env.reconciler()
    outcomes = []
    for _ in range(3):  # max_attempts = 3
        env.update(models.LoadBalancer, lb_id, lease_expires=None)
        outcomes.append(reconciler.reconcile(lb_id).outcome)
    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.FAILED]
    lb = env.lb(lb_id)
    assert lb.provisioning_status == c.ERROR
    assert lb.listeners[0].provisioning_status == c.ERROR
    assert "after 3 attempts" in lb.last_error and "compute build failed" in lb.last_error
    assert lb.lease_owner is None
    # Nothing runs for it any more, and an ERROR LB can still be deleted.
    assert reconciler.reconcile(lb_id).outcome is Outcome.SKIPPED
    env.compute.fail_builds = 0
    env.set_status(lb_id, c.PENDING_DELETE)
    assert reconciler.reconcile(lb_id).outcome is Outcome.SETTLED
    assert env.lb(lb_id).provisioning_status == c.DELETED
    assert live(env, lb_id) == []


def test_attempts_cut_short_by_crashes_count_too(env: WorkerEnv):
    lb_id = env.store_lb()
    env.update(models.LoadBalancer, lb_id, reconcile_attempts=3)  # three crashed attempts
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.FAILED
    assert "gave up after 3 attempts" in env.lb(lb_id).last_error


def test_sweep_finds_pending_lbs_whose_lease_is_free_or_expired(env: WorkerEnv):
    free = env.store_lb(listener_port=None)
    expired = env.store_lb(listener_port=None, vip="127.0.100.11")
    held = env.store_lb(listener_port=None, vip="127.0.100.12")
    backing_off = env.store_lb(listener_port=None, vip="127.0.100.13")
    env.store_lb(listener_port=None, vip="127.0.100.14", status=c.ACTIVE)
    now = models.utcnow()
    env.update(
        models.LoadBalancer,
        expired,
        lease_owner="dead-worker",
        lease_expires=now - datetime.timedelta(seconds=5),
    )
    env.update(
        models.LoadBalancer,
        held,
        lease_owner="busy-worker",
        lease_expires=now + datetime.timedelta(seconds=60),
    )
    env.update(models.LoadBalancer, backing_off, lease_expires=now + datetime.timedelta(seconds=60))
    assert set(leases.claimable(env.db)) == {free, expired}


def test_delete_removes_amphorae_and_ends_deleted(env: WorkerEnv):
    lb_id = env.store_lb()
    env.reconciler().reconcile(lb_id)
    (amp,) = env.amphorae(lb_id)
    with env.db.transaction() as session:
        lb = session.get(models.LoadBalancer, lb_id)
        lb.provisioning_status = c.PENDING_DELETE
        for child in [*lb.listeners, *lb.pools]:
            child.provisioning_status = c.PENDING_DELETE
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    lb = env.lb(lb_id)
    assert lb.provisioning_status == c.DELETED
    assert lb.listeners == [] and lb.pools == []
    assert [a.status for a in env.amphorae(lb_id)] == [c.DELETED]
    assert env.compute.get(amp.compute_id) is None
    assert env.compute.list_instances() == []


def test_active_standby_is_refused_with_a_clear_reason(env: WorkerEnv):
    lb_id = env.store_lb(topology=c.TOPOLOGY_ACTIVE_STANDBY)
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.FAILED
    lb = env.lb(lb_id)
    assert lb.provisioning_status == c.ERROR
    assert "ACTIVE_STANDBY" in lb.last_error and "compute_netns_driver" in lb.last_error
    assert env.compute.calls["build"] == 0


def test_a_half_built_amphora_is_adopted_not_built_twice(env: WorkerEnv):
    lb_id = env.store_lb()
    # A worker wrote the row, the build started the instance, then the worker died
    # before it could record the compute id.
    with env.db.transaction() as session:
        row = models.Amphora(status=c.PENDING_CREATE, load_balancer_id=lb_id, role=c.ROLE_STANDALONE)
        session.add(row)
        session.flush()
        amp_id = row.id
    env.compute.build(spares_spec(amp_id))
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    assert env.compute.calls["build"] == 0
    (amp,) = env.amphorae(lb_id)
    assert (amp.id, amp.status) == (amp_id, c.AMPHORA_ALLOCATED)
    assert len(env.compute.list_instances()) == 1


def test_a_booting_amphora_whose_instance_died_is_built_again(env: WorkerEnv):
    lb_id = env.store_lb()
    with env.db.transaction() as session:
        row = models.Amphora(status=c.PENDING_CREATE, load_balancer_id=lb_id, role=c.ROLE_STANDALONE)
        session.add(row)
        session.flush()
        amp_id = row.id
    instance = env.compute.build(spares_spec(amp_id))
    env.update(
        models.Amphora,
        amp_id,
        status=c.AMPHORA_BOOTING,
        compute_id=instance.compute_id,
        lb_network_ip=instance.lb_network_ip,
    )
    env.compute.kill(instance.compute_id)
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    assert env.compute.calls["build"] == 1
    (amp,) = env.amphorae(lb_id)
    assert amp.id == amp_id and amp.compute_id != instance.compute_id
    assert [i.compute_id for i in env.compute.list_instances()] == [amp.compute_id]


def test_failover_replaces_the_amphora_and_keeps_the_vip(env: WorkerEnv):
    lb_id = env.store_lb()
    env.reconciler().reconcile(lb_id)
    (old,) = env.amphorae(lb_id)
    assert env.request_failover(lb_id)
    assert env.lb(lb_id).provisioning_status == c.PENDING_UPDATE
    env.reset_counts()
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    rows = {a.id: a for a in env.amphorae(lb_id)}
    assert rows[old.id].status == c.DELETED
    (new,) = [a for a in rows.values() if a.status == c.AMPHORA_ALLOCATED]
    assert new.id != old.id
    (plug,) = env.amphora.calls_named("plug_vip")
    assert plug.amphora_id == new.id and plug.args[0] == "127.0.100.10"
    # The new amphora was configured before the old one was deleted.
    assert env.compute.get(old.compute_id) is None
    assert env.lb(lb_id).provisioning_status == c.ACTIVE


def test_failover_of_a_busy_lb_is_refused(env: WorkerEnv):
    lb_id = env.store_lb()
    assert not env.request_failover(lb_id)


def test_failover_amphora_marks_one_and_the_reconciler_replaces_it(env: WorkerEnv):
    lb_id = env.store_lb()
    env.reconciler().reconcile(lb_id)
    (old,) = env.amphorae(lb_id)
    assert failover.failover_amphora(env.db, env.drivers, old.id, lambda _: None)
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    statuses = sorted(a.status for a in env.amphorae(lb_id))
    assert statuses == [c.AMPHORA_ALLOCATED, c.DELETED]


def test_a_dead_amphora_is_replaced_on_the_next_update(env: WorkerEnv):
    lb_id = env.store_lb()
    env.reconciler().reconcile(lb_id)
    (old,) = env.amphorae(lb_id)
    env.compute.kill(old.compute_id)
    env.set_status(lb_id, c.PENDING_UPDATE)
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    (new,) = live(env, lb_id)
    assert new.id != old.id and new.status == c.AMPHORA_ALLOCATED


def test_a_ready_spare_is_taken_instead_of_building(db_url: str):
    with worker_env(db_url, {"house_keeping": {"spare_amphora_pool_size": 1}}) as env:
        spare = spares.build_spare(env.conf, env.db, env.drivers)
        assert env.amphorae()[0].status == c.AMPHORA_READY
        lb_id = env.store_lb()
        env.reset_counts()
        assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
        assert env.compute.calls["build"] == 0
        (amp,) = env.amphorae(lb_id)
        assert (amp.id, amp.status, amp.role) == (spare.id, c.AMPHORA_ALLOCATED, c.ROLE_STANDALONE)
        assert spares.ready_spares(env.db) == []


def test_lb_without_listeners_stops_haproxy_instead_of_pushing(env: WorkerEnv):
    lb_id = env.store_lb(listener_port=None)
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    assert env.amphora_calls("upload_haproxy_config") == 0
    assert env.amphora_calls("delete_listeners") == 1


def spares_spec(amphora_id: str):  # type: ignore[no-untyped-def]
    from ostia.drivers.compute.base import AmphoraSpec

    return AmphoraSpec(amphora_id=amphora_id, server_pem=b"", client_ca_pem=b"")


def test_a_held_lease_renews_and_notices_when_another_owner_has_it(env: WorkerEnv):
    lb_id = env.store_lb()
    assert leases.claim(env.db, lb_id, "me", 30)
    lease = leases.Lease(env.db, lb_id, "me", 30)
    assert lease.renew()
    lease.check()
    env.update(models.LoadBalancer, lb_id, lease_owner="other")
    assert not lease.renew()
    with pytest.raises(leases.LeaseLost):
        lease.check()


def test_a_retired_lease_is_not_renewed_after_its_holder_released_it(env: WorkerEnv):
    lb_id = env.store_lb()
    assert leases.claim(env.db, lb_id, "me", 30)
    lease = leases.Lease(env.db, lb_id, "me", 30)
    lease.retire()
    assert leases.release(env.db, lb_id, "me")
    assert lease.renew() and not lease.lost  # no false "lease lost" after a clean finish
    assert env.lb(lb_id).lease_owner is None


def test_a_surplus_half_built_amphora_is_deleted_not_kept(env: WorkerEnv):
    lb_id = env.store_lb()
    env.reconciler().reconcile(lb_id)
    (serving,) = env.amphorae(lb_id)
    with env.db.transaction() as session:  # a second STANDALONE row, somehow
        row = models.Amphora(status=c.PENDING_CREATE, load_balancer_id=lb_id, role=c.ROLE_STANDALONE)
        session.add(row)
        session.flush()
        surplus = row.id
    env.compute.build(spares_spec(surplus))
    env.set_status(lb_id, c.PENDING_UPDATE)
    assert env.reconciler().reconcile(lb_id).outcome is Outcome.SETTLED
    statuses = {a.id: a.status for a in env.amphorae(lb_id)}
    assert statuses == {serving.id: c.AMPHORA_ALLOCATED, surplus: c.DELETED}
    assert [i.amphora_id for i in env.compute.list_instances()] == [serving.id]
