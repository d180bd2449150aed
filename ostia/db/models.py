"""SQLAlchemy models of every Octavia resource.

Table and column names follow Octavia's schema where the API names differ from storage
(`enabled` for `admin_state_up`, `ip_address` for a member's `address`,
`rise_threshold`/`fall_threshold` for `max_retries`/`max_retries_down`).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    literal,
    literal_column,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime.datetime:
    """Naive UTC now: what every timestamp column stores."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class IdMixin:
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, onupdate=utcnow)


# What a NULL created_at sorts as in a list's default order (ostia/api/collection.py).
EARLIEST = datetime.datetime(1, 1, 1)


def default_order(column: Any) -> Any:
    """A list's default order key: `column` (created_at) with NULL as EARLIEST. The time is
    written into the SQL as each database spells it (SQLite compares the text), not bound:
    an index on the expression serves only the same expression, and holds no parameter."""
    return func.coalesce(column, literal(EARLIEST, DateTime(), literal_execute=True))


def default_order_indexes(table: str, parent: str = "") -> tuple[Index, ...]:
    """Indexes on a list's default order, (default_order(created_at), id): for a top-level
    resource one across projects and one per project, for a child one per `parent`
    (migration 0006). Without them each list sorted the whole table before its LIMIT."""
    order = default_order(literal_column("created_at"))
    if parent:
        return (Index(f"ix_{table}_{parent}_default_order", parent, order, "id"),)
    return (
        Index(f"ix_{table}_default_order", order, "id"),
        Index(f"ix_{table}_project_default_order", "project_id", order, "id"),
    )


class StatusMixin:
    provisioning_status: Mapped[str] = mapped_column(String(16), index=True)
    operating_status: Mapped[str] = mapped_column(String(16))


class Tag(Base):
    """One tag of any taggable resource; resource ids are UUIDs, so one table serves all."""

    __tablename__ = "tags"
    resource_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


def _tags_relationship(model: str) -> Any:
    return relationship(
        Tag,
        primaryjoin=f"foreign(Tag.resource_id) == {model}.id",
        cascade="all, delete-orphan",
        lazy="selectin",
        overlaps="_tags",
    )


class TaggedMixin:
    """Resources with a `tags` list; `_tags` rows are replaced as a whole on update."""

    _tags: list[Tag]

    @property
    def tags(self) -> list[str]:
        return sorted(t.tag for t in self._tags)

    @tags.setter
    def tags(self, values: list[str] | None) -> None:
        wanted = list(dict.fromkeys(values or []))
        existing = {t.tag: t for t in self._tags}
        self._tags[:] = [existing.get(v) or Tag(tag=v) for v in wanted]


class LoadBalancer(IdMixin, TimestampMixin, StatusMixin, TaggedMixin, Base):
    __tablename__ = "load_balancer"
    __table_args__ = default_order_indexes("load_balancer")
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    topology: Mapped[str | None] = mapped_column(String(36))
    server_group_id: Mapped[str | None] = mapped_column(String(36))
    provider: Mapped[str | None] = mapped_column(String(64))
    flavor_id: Mapped[str | None] = mapped_column(ForeignKey("flavor.id"))
    availability_zone: Mapped[str | None] = mapped_column(ForeignKey("availability_zone.name"))
    # Reconciler bookkeeping (Ostia): which worker holds the LB and until when.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[datetime.datetime | None] = mapped_column(DateTime, index=True)
    reconcile_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The API request that last put the LB in PENDING_*: the worker logs under its id.
    request_id: Mapped[str | None] = mapped_column(String(64))

    vip: Mapped[Vip] = relationship(
        back_populates="load_balancer",
        uselist=False,
        cascade="all, delete-orphan",
        lazy="joined",
    )
    additional_vips: Mapped[list[AdditionalVip]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    listeners: Mapped[list[Listener]] = relationship(
        back_populates="load_balancer", cascade="all, delete-orphan"
    )
    pools: Mapped[list[Pool]] = relationship(back_populates="load_balancer", cascade="all, delete-orphan")
    amphorae: Mapped[list[Amphora]] = relationship(back_populates="load_balancer")
    _tags: Mapped[list[Tag]] = _tags_relationship("LoadBalancer")


class Vip(Base):
    __tablename__ = "vip"
    load_balancer_id: Mapped[str] = mapped_column(
        ForeignKey("load_balancer.id", ondelete="CASCADE"), primary_key=True
    )
    ip_address: Mapped[str | None] = mapped_column(String(64))
    port_id: Mapped[str | None] = mapped_column(String(36))
    subnet_id: Mapped[str | None] = mapped_column(String(36))
    network_id: Mapped[str | None] = mapped_column(String(36))
    qos_policy_id: Mapped[str | None] = mapped_column(String(36))
    octavia_owned: Mapped[bool | None] = mapped_column(Boolean)
    vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    sg_ids: Mapped[list[str] | None] = mapped_column(JSON)
    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="vip")
    # "Does a load balancer hold this address?" is asked on every create (vip_allocation).
    __table_args__ = (Index("ix_vip_subnet_id_ip_address", "subnet_id", "ip_address"),)


class AdditionalVip(Base):
    __tablename__ = "additional_vip"
    load_balancer_id: Mapped[str] = mapped_column(
        ForeignKey("load_balancer.id", ondelete="CASCADE"), primary_key=True
    )
    subnet_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    network_id: Mapped[str | None] = mapped_column(String(36))
    port_id: Mapped[str | None] = mapped_column(String(36))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (Index("ix_additional_vip_subnet_id_ip_address", "subnet_id", "ip_address"),)


class VipAllocationCursor(Base):
    """Where the search for a subnet's next free VIP address starts (Ostia). Its row is
    locked while a VIP of the subnet is chosen, so concurrent creates take turns."""

    __tablename__ = "vip_allocation_cursor"
    subnet_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # None: from the subnet's lowest address.
    next_address: Mapped[str | None] = mapped_column(String(64))


class VrrpGroup(Base):
    __tablename__ = "vrrp_group"
    load_balancer_id: Mapped[str] = mapped_column(
        ForeignKey("load_balancer.id", ondelete="CASCADE"), primary_key=True
    )
    vrrp_group_name: Mapped[str | None] = mapped_column(String(36))
    vrrp_auth_type: Mapped[str | None] = mapped_column(String(16))
    vrrp_auth_pass: Mapped[str | None] = mapped_column(String(36))
    advert_int: Mapped[int | None] = mapped_column(Integer)


class Listener(IdMixin, TimestampMixin, StatusMixin, TaggedMixin, Base):
    __tablename__ = "listener"
    __table_args__ = (
        UniqueConstraint(
            "load_balancer_id", "protocol", "protocol_port", name="uq_listener_load_balancer_id_protocol_port"
        ),
        *default_order_indexes("listener"),
    )
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    protocol: Mapped[str] = mapped_column(String(16))
    protocol_port: Mapped[int] = mapped_column(Integer)
    connection_limit: Mapped[int | None] = mapped_column(Integer)
    load_balancer_id: Mapped[str] = mapped_column(
        ForeignKey("load_balancer.id", ondelete="CASCADE"), index=True
    )
    default_pool_id: Mapped[str | None] = mapped_column(
        ForeignKey("pool.id", ondelete="SET NULL", use_alter=True, name="fk_listener_pool_id")
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    timeout_client_data: Mapped[int | None] = mapped_column(Integer)
    timeout_member_connect: Mapped[int | None] = mapped_column(Integer)
    timeout_member_data: Mapped[int | None] = mapped_column(Integer)
    timeout_tcp_inspect: Mapped[int | None] = mapped_column(Integer)
    insert_headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tls_certificate_id: Mapped[str | None] = mapped_column(String(255))
    sni_container_refs: Mapped[list[str] | None] = mapped_column(JSON)
    client_ca_tls_certificate_id: Mapped[str | None] = mapped_column(String(255))
    client_authentication: Mapped[str] = mapped_column(String(10), default="NONE")
    client_crl_container_id: Mapped[str | None] = mapped_column(String(255))
    allowed_cidrs: Mapped[list[str] | None] = mapped_column(JSON)
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str] | None] = mapped_column(JSON)
    alpn_protocols: Mapped[list[str] | None] = mapped_column(JSON)
    hsts_max_age: Mapped[int | None] = mapped_column(Integer)
    hsts_include_subdomains: Mapped[bool] = mapped_column(Boolean, default=False)
    hsts_preload: Mapped[bool] = mapped_column(Boolean, default=False)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="listeners")
    default_pool: Mapped[Pool | None] = relationship(
        foreign_keys=[default_pool_id], back_populates="listeners"
    )
    l7policies: Mapped[list[L7Policy]] = relationship(
        back_populates="listener",
        cascade="all, delete-orphan",
        order_by="L7Policy.position",
        foreign_keys="L7Policy.listener_id",
    )
    statistics: Mapped[list[ListenerStatistics]] = relationship(
        cascade="all, delete-orphan",
        primaryjoin="Listener.id == foreign(ListenerStatistics.listener_id)",
    )
    _tags: Mapped[list[Tag]] = _tags_relationship("Listener")


class Pool(IdMixin, TimestampMixin, StatusMixin, TaggedMixin, Base):
    __tablename__ = "pool"
    __table_args__ = default_order_indexes("pool")
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    protocol: Mapped[str] = mapped_column(String(16))
    lb_algorithm: Mapped[str] = mapped_column(String(255))
    load_balancer_id: Mapped[str | None] = mapped_column(
        ForeignKey("load_balancer.id", ondelete="CASCADE"), index=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tls_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    tls_certificate_id: Mapped[str | None] = mapped_column(String(255))
    ca_tls_certificate_id: Mapped[str | None] = mapped_column(String(255))
    crl_container_id: Mapped[str | None] = mapped_column(String(255))
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str] | None] = mapped_column(JSON)
    alpn_protocols: Mapped[list[str] | None] = mapped_column(JSON)

    load_balancer: Mapped[LoadBalancer | None] = relationship(back_populates="pools")
    listeners: Mapped[list[Listener]] = relationship(
        foreign_keys="Listener.default_pool_id", back_populates="default_pool"
    )
    members: Mapped[list[Member]] = relationship(
        back_populates="pool", cascade="all, delete-orphan", order_by="Member.created_at"
    )
    health_monitor: Mapped[HealthMonitor | None] = relationship(
        back_populates="pool", uselist=False, cascade="all, delete-orphan"
    )
    session_persistence: Mapped[SessionPersistence | None] = relationship(
        uselist=False, cascade="all, delete-orphan", lazy="joined"
    )
    l7policies: Mapped[list[L7Policy]] = relationship(
        back_populates="redirect_pool", foreign_keys="L7Policy.redirect_pool_id"
    )
    _tags: Mapped[list[Tag]] = _tags_relationship("Pool")


class SessionPersistence(Base):
    __tablename__ = "session_persistence"
    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), primary_key=True)
    type: Mapped[str] = mapped_column(String(36))
    cookie_name: Mapped[str | None] = mapped_column(String(255))
    persistence_timeout: Mapped[int | None] = mapped_column(Integer)
    persistence_granularity: Mapped[str | None] = mapped_column(String(64))


class Member(IdMixin, TimestampMixin, StatusMixin, TaggedMixin, Base):
    __tablename__ = "member"
    __table_args__ = (
        UniqueConstraint(
            "pool_id", "ip_address", "protocol_port", name="uq_member_pool_id_address_protocol_port"
        ),
        *default_order_indexes("member", "pool_id"),
    )
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), index=True)
    subnet_id: Mapped[str | None] = mapped_column(String(36))
    ip_address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int | None] = mapped_column(Integer, default=1)
    backup: Mapped[bool] = mapped_column(Boolean, default=False)
    monitor_address: Mapped[str | None] = mapped_column(String(64))
    monitor_port: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    vnic_type: Mapped[str] = mapped_column(String(64), default="normal")

    pool: Mapped[Pool] = relationship(back_populates="members")
    _tags: Mapped[list[Tag]] = _tags_relationship("Member")


class HealthMonitor(IdMixin, TimestampMixin, StatusMixin, TaggedMixin, Base):
    __tablename__ = "health_monitor"
    __table_args__ = default_order_indexes("health_monitor")
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), unique=True)
    type: Mapped[str] = mapped_column(String(36))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    fall_threshold: Mapped[int] = mapped_column(Integer)
    rise_threshold: Mapped[int] = mapped_column(Integer)
    http_method: Mapped[str | None] = mapped_column(String(16))
    url_path: Mapped[str | None] = mapped_column(String(2048))
    expected_codes: Mapped[str | None] = mapped_column(String(64))
    http_version: Mapped[float | None] = mapped_column()
    domain_name: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    pool: Mapped[Pool] = relationship(back_populates="health_monitor")
    _tags: Mapped[list[Tag]] = _tags_relationship("HealthMonitor")


class L7Policy(IdMixin, TimestampMixin, StatusMixin, TaggedMixin, Base):
    __tablename__ = "l7policy"
    __table_args__ = default_order_indexes("l7policy")
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    listener_id: Mapped[str] = mapped_column(ForeignKey("listener.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(36))
    redirect_pool_id: Mapped[str | None] = mapped_column(ForeignKey("pool.id"))
    redirect_url: Mapped[str | None] = mapped_column(String(255))
    redirect_prefix: Mapped[str | None] = mapped_column(String(255))
    redirect_http_code: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    listener: Mapped[Listener] = relationship(back_populates="l7policies", foreign_keys=[listener_id])
    redirect_pool: Mapped[Pool | None] = relationship(
        back_populates="l7policies", foreign_keys=[redirect_pool_id]
    )
    rules: Mapped[list[L7Rule]] = relationship(
        back_populates="l7policy", cascade="all, delete-orphan", order_by="L7Rule.created_at"
    )
    _tags: Mapped[list[Tag]] = _tags_relationship("L7Policy")


class L7Rule(IdMixin, TimestampMixin, StatusMixin, TaggedMixin, Base):
    __tablename__ = "l7rule"
    __table_args__ = default_order_indexes("l7rule", "l7policy_id")
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    l7policy_id: Mapped[str] = mapped_column(ForeignKey("l7policy.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(36))
    compare_type: Mapped[str] = mapped_column(String(36))
    key: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    invert: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    l7policy: Mapped[L7Policy] = relationship(back_populates="rules")
    _tags: Mapped[list[Tag]] = _tags_relationship("L7Rule")


class Amphora(IdMixin, TimestampMixin, Base):
    __tablename__ = "amphora"
    compute_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(36), index=True)
    load_balancer_id: Mapped[str | None] = mapped_column(ForeignKey("load_balancer.id"), index=True)
    lb_network_ip: Mapped[str | None] = mapped_column(String(64))
    vrrp_ip: Mapped[str | None] = mapped_column(String(64))
    ha_ip: Mapped[str | None] = mapped_column(String(64))
    vrrp_port_id: Mapped[str | None] = mapped_column(String(36))
    ha_port_id: Mapped[str | None] = mapped_column(String(36))
    role: Mapped[str | None] = mapped_column(String(36))
    cert_expiration: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    cert_busy: Mapped[bool] = mapped_column(Boolean, default=False)
    vrrp_interface: Mapped[str | None] = mapped_column(String(16))
    vrrp_id: Mapped[int | None] = mapped_column(Integer)
    vrrp_priority: Mapped[int | None] = mapped_column(Integer)
    cached_zone: Mapped[str | None] = mapped_column(String(255))
    image_id: Mapped[str | None] = mapped_column(String(36))
    compute_flavor: Mapped[str | None] = mapped_column(String(255))

    load_balancer: Mapped[LoadBalancer | None] = relationship(back_populates="amphorae")


class AmphoraHealth(Base):
    __tablename__ = "amphora_health"
    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    last_update: Mapped[datetime.datetime] = mapped_column(DateTime, index=True)
    busy: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seq: Mapped[int | None] = mapped_column(Integer)
    # Replay protection (controller/health/sequence.py): the boot the amphora's agent
    # runs, and the boots it has left (space-separated, newest first, at most 8).
    boot_id: Mapped[str | None] = mapped_column(String(36))
    previous_boot_ids: Mapped[str | None] = mapped_column(String(296))


class ListenerStatistics(Base):
    __tablename__ = "listener_statistics"
    listener_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Counters accumulate for the life of a listener: 32 bits overflow after 2 GiB.
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(Integer, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(BigInteger, default=0)
    received_time: Mapped[float | None] = mapped_column()


class Quotas(Base):
    __tablename__ = "quotas"
    project_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    load_balancer: Mapped[int | None] = mapped_column(Integer)
    listener: Mapped[int | None] = mapped_column(Integer)
    pool: Mapped[int | None] = mapped_column(Integer)
    health_monitor: Mapped[int | None] = mapped_column(Integer)
    member: Mapped[int | None] = mapped_column(Integer)
    l7policy: Mapped[int | None] = mapped_column(Integer)
    l7rule: Mapped[int | None] = mapped_column(Integer)


class FlavorProfile(IdMixin, Base):
    __tablename__ = "flavor_profile"
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    flavor_data: Mapped[str] = mapped_column(String(4096))


class Flavor(IdMixin, Base):
    __tablename__ = "flavor"
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    flavor_profile_id: Mapped[str] = mapped_column(ForeignKey("flavor_profile.id"))
    flavor_profile: Mapped[FlavorProfile] = relationship(lazy="joined")


class AvailabilityZoneProfile(IdMixin, Base):
    __tablename__ = "availability_zone_profile"
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    availability_zone_data: Mapped[str] = mapped_column(String(4096))


class AvailabilityZone(Base):
    __tablename__ = "availability_zone"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone_profile_id: Mapped[str] = mapped_column(ForeignKey("availability_zone_profile.id"))
    availability_zone_profile: Mapped[AvailabilityZoneProfile] = relationship(lazy="joined")
