"""The fields every v2 object's answer carries alike: id, statuses, times, tags, project.

A resource's serializer adds only what is its own.
"""

from __future__ import annotations

import datetime
from typing import Any, Protocol

from ostia.api.resource import timestamp


class Provisioned(Protocol):
    """What a load balancer and every object under it store alike."""

    @property
    def id(self) -> str: ...
    @property
    def provisioning_status(self) -> str: ...
    @property
    def operating_status(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def created_at(self) -> datetime.datetime | None: ...
    @property
    def updated_at(self) -> datetime.datetime | None: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def project_id(self) -> str | None: ...


def standard_fields(obj: Provisioned, reason: str | None) -> dict[str, Any]:
    """`reason` is the tenant-facing `provisioning_status_reason` (see api/error_reason)."""
    return {
        "id": obj.id,
        "provisioning_status": obj.provisioning_status,
        "provisioning_status_reason": reason,
        "operating_status": obj.operating_status,
        "admin_state_up": obj.enabled,
        "created_at": timestamp(obj.created_at),
        "updated_at": timestamp(obj.updated_at),
        "tags": obj.tags,
        "project_id": obj.project_id,
        "tenant_id": obj.project_id,
    }
