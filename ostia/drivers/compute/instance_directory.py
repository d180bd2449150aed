"""The directory of amphora instances that the local and namespace compute drivers keep.

Both drivers give each instance a sub-directory of `amphora_dir` named by a short random hex
compute id (layout in local_instance.py); the directory and its record are the instance, so
`list_instances` finds every instance again after a controller restart. This module holds
what the two do alike with that directory: reserving an instance and its management address
under a lock every process using the directory shares, reading instances back, and removing
a build that failed half-way. How an instance runs (and so whether it is ACTIVE) stays with
each driver.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator

from ostia.common.directory_lock import directory_lock
from ostia.drivers.compute.base import ComputeBuildError, ComputeDeleteError, ComputeDriver, ComputeInstance
from ostia.drivers.compute.local_instance import InstanceFiles, InstanceRecord, read_record, write_record

LOG = logging.getLogger(__name__)

ACTIVE = "ACTIVE"
SHUTOFF = "SHUTOFF"
ERROR = "ERROR"

_AMPHORA_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# A running instance's state (ACTIVE or SHUTOFF), as its driver sees it.
InstanceState = Callable[[InstanceRecord, InstanceFiles], str]


def check_amphora_id(amphora_id: str) -> None:
    """Refuse an amphora id that cannot be written into file names and configuration."""
    if not _AMPHORA_ID.fullmatch(amphora_id):
        raise ComputeBuildError(f"unusable amphora id {amphora_id!r}")


class InstanceDirectory:
    """`amphora_dir`: one sub-directory per instance, named by a compute id of
    `id_length` hex digits."""

    def __init__(self, root: str, id_length: int) -> None:
        self.root = root
        self.id_length = id_length
        self._compute_id = re.compile(f"[0-9a-f]{{{id_length}}}")

    def is_compute_id(self, name: str) -> bool:
        return self._compute_id.fullmatch(name) is not None

    def files(self, compute_id: str) -> InstanceFiles:
        return InstanceFiles(os.path.join(self.root, compute_id))

    def existing(self, compute_id: str) -> InstanceFiles | None:
        """The files of an instance that has a directory; None for anything else."""
        if not self.is_compute_id(compute_id):
            return None
        files = self.files(compute_id)
        return files if os.path.isdir(files.root) else None

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Serialize address choice across threads and processes sharing the directory."""
        return directory_lock(self.root, ".build.lock")

    def reserve(self, amphora_id: str, pick_address: Callable[[set[str]], str]) -> InstanceRecord:
        """Make a new instance's directory and record, with the address `pick_address`
        chooses given the addresses of every instance there is: from then on it is taken."""
        with self.lock():
            address = pick_address(self._taken_addresses())
            while True:
                compute_id = uuid.uuid4().hex[: self.id_length]
                try:
                    os.mkdir(os.path.join(self.root, compute_id), 0o700)
                    break
                except FileExistsError:
                    continue
            record = InstanceRecord(compute_id, amphora_id, address)
            write_record(self.files(compute_id), record)
        return record

    def instance(self, compute_id: str, state: InstanceState) -> ComputeInstance | None:
        """The instance named `compute_id`, None if there is none."""
        files = self.existing(compute_id)
        if files is None:
            return None
        record = read_record(files)
        if record is None:
            # A build that died before writing its record: only delete can help it.
            return ComputeInstance(compute_id, "", "", ERROR)
        return instance_of(record, state(record, files))

    def instances(self, state: InstanceState) -> list[ComputeInstance]:
        """Every instance, by compute id."""
        found = [self.instance(name, state) for name in self._names()]
        return [instance for instance in found if instance is not None]

    def _names(self) -> list[str]:
        try:
            return sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []

    def _taken_addresses(self) -> set[str]:
        taken = set()
        for name in self._names():
            files = self.existing(name)
            record = read_record(files) if files is not None else None
            if record is not None:
                taken.add(record.lb_network_ip)
        return taken


def instance_of(record: InstanceRecord, state: str) -> ComputeInstance:
    return ComputeInstance(record.compute_id, record.amphora_id, record.lb_network_ip, state)


@contextlib.contextmanager
def removed_if_build_fails(driver: ComputeDriver, amphora_id: str, compute_id: str) -> Iterator[None]:
    """Delete what a failing build step leaves of instance `compute_id` and raise
    ComputeBuildError, so a failed build leaves nothing behind."""
    try:
        yield
    except Exception as exc:
        LOG.exception("building amphora %s failed", amphora_id)
        try:
            driver.delete(compute_id)
        except ComputeDeleteError:
            LOG.exception("cleaning up after the failed build of %s", compute_id)
        raise ComputeBuildError(f"amphora {amphora_id} did not start: {exc}") from exc
