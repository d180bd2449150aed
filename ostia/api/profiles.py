"""Provider profiles (flavor profiles, availability zone profiles): admin-only objects
holding a provider name and a JSON object of metadata that provider has accepted.

Both kinds behave alike; `ProfileKind` says what differs (model, data attribute, which
provider check applies, which objects use a profile).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostia.api import safe_json, types
from ostia.api.collection import Collection, list_page
from ostia.api.resource import require_admin, with_fields
from ostia.api.services import Call
from ostia.common import constants as c
from ostia.common import exceptions as exc
from ostia.db import models
from ostia.drivers.provider.base import ProviderDriver

DataText = types.Annotated[str, types.Field(max_length=4096)]


@dataclasses.dataclass(frozen=True)
class ProfileKind:
    model: Any
    display: str
    singular: str
    plural: str
    links_key: str
    data_field: str
    # Raises (501) when the provider does not accept the metadata.
    validate: Callable[[ProviderDriver, dict[str, Any]], None]
    # The column of the using objects (flavors, zones) that points at a profile.
    used_by: Any

    @property
    def collection(self) -> Collection:
        m = self.model
        return Collection(
            model=m,
            singular=self.singular,
            plural=self.plural,
            display_name=self.display,
            serialize=self.serialize,
            links_key=self.links_key,
            tagged=False,
            default_sort=("id",),
            columns={
                "id": m.id,
                "name": m.name,
                "provider_name": m.provider_name,
                self.data_field: getattr(m, self.data_field),
            },
        )

    def serialize(self, profile: Any) -> dict[str, Any]:
        return {
            "id": profile.id,
            "name": profile.name,
            "provider_name": profile.provider_name,
            self.data_field: getattr(profile, self.data_field),
        }


def parse_data(kind: ProfileKind, text: str) -> dict[str, Any]:
    """The metadata as a dict; text that is not a JSON object is a 400."""
    try:
        data = safe_json.loads(text)
    except safe_json.UnsafeJSON:
        data = None
    if not isinstance(data, dict):
        raise exc.InvalidOption(text, kind.data_field)
    return data


def check_data(call: Call, kind: ProfileKind, provider_name: str, text: str) -> None:
    """The provider is enabled (400) and accepts the metadata (501)."""
    data = parse_data(kind, text)
    kind.validate(call.services.providers.get(provider_name), data)


def get_profile(session: Session, kind: ProfileKind, ident: str) -> Any:
    profile = session.get(kind.model, ident) if ident != c.NIL_UUID else None
    if profile is None:
        raise exc.NotFound(kind.display, ident)
    return profile


def _in_use(session: Session, kind: ProfileKind, ident: str) -> bool:
    return bool(session.scalar(select(func.count()).where(kind.used_by == ident)))


# ---- handlers (each resource module binds its kind and schemas) ----------------------


def create(call: Call, kind: ProfileKind, body: Any) -> dict[str, Any]:
    require_admin(call)
    data_text = getattr(body, kind.data_field)
    check_data(call, kind, body.provider_name, data_text)
    with call.db.transaction() as session:
        profile = kind.model(id=models.new_id(), name=body.name, provider_name=body.provider_name)
        setattr(profile, kind.data_field, data_text)
        session.add(profile)
        session.flush()
        return {kind.singular: kind.serialize(profile)}


def list_all(call: Call, kind: ProfileKind) -> dict[str, Any]:
    require_admin(call)
    with call.db.transaction() as session:
        return list_page(session, kind.collection, call.request.query_params, call.url, call.conf)


def show(call: Call, kind: ProfileKind, ident: str) -> dict[str, Any]:
    require_admin(call)
    with call.db.transaction() as session:
        return {kind.singular: with_fields(call, kind.serialize(get_profile(session, kind, ident)))}


def update(call: Call, kind: ProfileKind, ident: str, body: Any) -> dict[str, Any]:
    """Name always; provider and metadata only while no flavor or zone uses the profile
    (a change of either is refused with 409; sending the stored value is no change)."""
    require_admin(call)
    sent = body.sent()
    for key, value in sent.items():
        if value is None:
            raise exc.InvalidOption("None", key)
    with call.db.transaction() as session:
        profile = get_profile(session, kind, ident)
        provider_name = sent.get("provider_name", profile.provider_name)
        data_text = sent.get(kind.data_field, getattr(profile, kind.data_field))
        changes_target = provider_name != profile.provider_name or data_text != getattr(
            profile, kind.data_field
        )
        if changes_target:
            if _in_use(session, kind, ident):
                raise exc.InUse(kind.display, ident)
            check_data(call, kind, provider_name, data_text)
        for key, value in sent.items():
            setattr(profile, key, value)
        session.flush()
        return {kind.singular: kind.serialize(profile)}


def delete(call: Call, kind: ProfileKind, ident: str) -> None:
    require_admin(call)
    with call.db.transaction() as session:
        profile = get_profile(session, kind, ident)
        if _in_use(session, kind, ident):
            raise exc.InUse(kind.display, ident)
        session.delete(profile)
