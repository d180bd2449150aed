"""The spare amphora pool on real local amphorae: filled, taken by a new LB, refilled."""

from __future__ import annotations

from ostia.common import constants as c
from ostia.controller.housekeeping import spares_pool
from ostia.controller.housekeeping.service import HousekeepingService
from ostia.controller.worker.spares import ready_spares
from ostia.db import models
from tests.support.backends import fetch, free_port, http_backends
from tests.support.health_stack import create_lb, kill_amphora, serving_lb_body, wait_until
from tests.support.worker_stack import worker_stack


def test_pool_of_two_gives_a_new_lb_a_spare_refills_and_replaces_dead_spares() -> None:
    with worker_stack() as stack, stack.api.client() as http, http_backends("a") as backends:
        compute = stack.amphorae.compute
        # Pool size 0 (the default): nothing is started ahead of need.
        assert spares_pool.fill_pool(stack.db, stack.conf, stack.drivers) == 0
        assert compute.list_instances() == []

        stack.conf.set_override("spare_amphora_pool_size", 2, "house_keeping")
        stack.conf.set_override("spare_check_interval", 1, "house_keeping")
        housekeeper = HousekeepingService(stack.conf, stack.db, stack.drivers)
        housekeeper.start()
        try:
            spares = set(
                wait_until(
                    lambda: len(ready_spares(stack.db)) == 2 and ready_spares(stack.db), 30, "two spares"
                )
            )
            vip = stack.allocate_vip()
            port = free_port(vip)
            lb = create_lb(stack, http, serving_lb_body(vip, port, backends))
            assert fetch(vip, port) == (200, "a")
            with stack.db.transaction() as session:
                (taken,) = session.query(models.Amphora).filter_by(load_balancer_id=lb["id"])
                assert taken.id in spares and taken.status == c.AMPHORA_ALLOCATED

            refilled = set(
                wait_until(
                    lambda: len(ready_spares(stack.db)) == 2 and ready_spares(stack.db),
                    30,
                    "the pool refilled",
                )
            )
            assert taken.id not in refilled and len(compute.list_instances()) == 3

            dead = sorted(refilled)[0]
            with stack.db.transaction() as session:
                dead_compute_id = session.get(models.Amphora, dead).compute_id
            kill_amphora(stack, dead_compute_id)
            wait_until(
                lambda: dead not in ready_spares(stack.db) and len(ready_spares(stack.db)) == 2,
                30,
                "the dead spare replaced",
            )
            with stack.db.transaction() as session:
                assert session.get(models.Amphora, dead).status == c.DELETED
            assert len(compute.list_instances()) == 3
        finally:
            housekeeper.stop(timeout=30)  # let a spare being built finish: no leak
