"""Local amphorae for tests: short directories, configurations, a cleanup-safe builder.

Pieces, from small to large (each removes what it made, pass or fail):

* `short_tempdir()` - a directory under /tmp short enough for haproxy's unix sockets
  (`tmp_path` is usually too long: socket paths may not exceed 107 bytes).
* `amphora_test_config(state_dir, **overrides)` - an oslo ConfigOpts for the local compute
  driver with a random private management /24 (so concurrent test runs never collide).
* `local_compute(conf)` - a LocalComputeDriver whose every instance is deleted on exit.

The end-to-end builder (`local_amphora_stack`) lives in tests/support/amphora_stack.py.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from oslo_config import cfg

from ostia.common import config as config_mod
from ostia.drivers.compute.local_driver import LocalComputeDriver


@contextlib.contextmanager
def short_tempdir(prefix: str = "ostia-test-") -> Iterator[str]:
    """A fresh directory like /tmp/ostia-test-abcd1234, removed afterwards."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def random_mgmt_cidr() -> str:
    """A /24 in 127.64.0.0/10: far from the defaults (127.1/16, 127.2/16, 127.3/16)."""
    return f"127.{random.randint(64, 127)}.{random.randint(0, 255)}.0/24"


def amphora_test_config(
    state_dir: str,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> cfg.ConfigOpts:
    """Configuration for local amphorae under `state_dir` (amphorae in <state_dir>/amphorae)."""
    conf = config_mod.new_config()
    conf([], project="octavia", default_config_files=[])
    conf.set_override("state_dir", state_dir, "ostia")
    conf.set_override("mgmt_cidr", random_mgmt_cidr(), "local_compute")
    for group, values in (overrides or {}).items():
        for key, value in values.items():
            conf.set_override(key, value, None if group == "DEFAULT" else group)
    return conf


@contextlib.contextmanager
def local_compute(conf: cfg.ConfigOpts, **kwargs: Any) -> Iterator[LocalComputeDriver]:
    """A LocalComputeDriver; every instance left in its directory is deleted on exit."""
    driver = LocalComputeDriver(conf, **kwargs)
    try:
        yield driver
    finally:
        for instance in driver.list_instances():
            with contextlib.suppress(Exception):
                driver.delete(instance.compute_id)
