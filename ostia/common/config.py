"""Every octavia.conf option Ostia reads, under Octavia's section and option names.

Options are declared here once, grouped by section, so that the sample configuration
(`ostia config sample`, oslo-config-generator) and every service see the same set.
Ostia-only knobs live in sections whose names say so (`[ostia]`, `[local_network]`,
`[local_compute]`, `[reconciler]`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from oslo_config import cfg
from oslo_policy import opts as policy_opts

from ostia.common import constants

DEFAULT_LISTENER_CIPHERS = (
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)

DEFAULT_PROVIDERS = {
    "amphora": "The Octavia Amphora driver.",
    "octavia": "Deprecated alias of the Octavia Amphora driver.",
    "noop_driver": "The no-op driver: completes every change without a data plane.",
}

# What listeners and pools that name no TLS versions get (a subset of constants.TLS_VERSIONS).
DEFAULT_TLS_VERSIONS = ["TLSv1.2", "TLSv1.3"]

DEFAULT_OPTS = [
    cfg.StrOpt(
        "transport_url",
        secret=True,
        help="oslo.messaging transport URL (rabbit://...). Empty means in-process "
        "wake-ups, which only work when the worker runs in the same process.",
    ),
    cfg.StrOpt(
        "host", default="localhost", sample_default="<hostname>", help="Name of this controller node."
    ),
    cfg.BoolOpt("debug", default=False, help="Log at DEBUG level."),
    cfg.StrOpt("log_file", help="Log to this file instead of standard error."),
    cfg.IntOpt(
        "graceful_shutdown_timeout",
        default=60,
        help="Seconds a service waits for work in flight when asked to stop.",
    ),
]

API_OPTS = [
    cfg.HostAddressOpt("bind_host", default="127.0.0.1", help="Address the API listens on."),
    cfg.PortOpt("bind_port", default=9876, help="Port the API listens on."),
    cfg.StrOpt(
        "auth_strategy",
        default="keystone",
        choices=["noauth", "keystone", "testing"],
        help="How the API authenticates callers.",
    ),
    cfg.BoolOpt("allow_pagination", default=True, help="Allow limit/marker on list calls."),
    cfg.BoolOpt("allow_sorting", default=True, help="Allow sort keys on list calls."),
    cfg.BoolOpt("allow_filtering", default=True, help="Allow attribute filters on list calls."),
    cfg.BoolOpt("allow_field_selection", default=True, help="Allow fields= on API calls."),
    cfg.StrOpt(
        "pagination_max_limit",
        default="1000",
        help="Largest page a list call returns; 'infinite' or negative means no limit.",
    ),
    cfg.StrOpt("api_base_uri", help="Base URI used in pagination links instead of the request's."),
    cfg.BoolOpt("allow_tls_terminated_listeners", default=True, help="Allow TERMINATED_HTTPS listeners."),
    cfg.BoolOpt("allow_ping_health_monitors", default=True, help="Allow PING health monitors."),
    cfg.BoolOpt("allow_prometheus_listeners", default=True, help="Allow PROMETHEUS listeners."),
    cfg.DictOpt(
        "enabled_provider_drivers",
        default=DEFAULT_PROVIDERS,
        help="Enabled provider drivers as name:description pairs.",
    ),
    cfg.StrOpt(
        "default_provider_driver",
        default="amphora",
        help="Provider used when a load balancer create names none.",
    ),
    cfg.IntOpt(
        "udp_connect_min_interval_health_monitor",
        default=3,
        help="Smallest delay of a UDP-CONNECT health monitor; negative disables.",
    ),
    cfg.BoolOpt("healthcheck_enabled", default=True, help="Answer GET /healthcheck."),
    cfg.IntOpt("healthcheck_refresh_interval", default=5, help="Seconds a healthcheck is cached."),
    cfg.StrOpt(
        "default_listener_ciphers",
        default=DEFAULT_LISTENER_CIPHERS,
        help="OpenSSL cipher string for TLS listeners.",
    ),
    cfg.StrOpt(
        "default_pool_ciphers",
        default=DEFAULT_LISTENER_CIPHERS,
        help="OpenSSL cipher string for TLS-enabled pools.",
    ),
    cfg.StrOpt(
        "tls_cipher_prohibit_list", default="", help="Colon-separated ciphers that tenants may not request."
    ),
    cfg.ListOpt(
        "default_listener_tls_versions",
        default=DEFAULT_TLS_VERSIONS,
        help="TLS versions for listeners that name none.",
    ),
    cfg.ListOpt(
        "default_pool_tls_versions",
        default=DEFAULT_TLS_VERSIONS,
        help="TLS versions for pools that name none.",
    ),
    cfg.StrOpt(
        "minimum_tls_version",
        choices=list(constants.TLS_VERSIONS),
        help="Lowest TLS version a tenant may request.",
    ),
    cfg.ListOpt(
        "default_listener_alpn_protocols",
        default=list(constants.ALPN_PROTOCOLS),
        help="ALPN protocols for listeners that name none.",
    ),
    cfg.ListOpt(
        "default_pool_alpn_protocols",
        default=list(constants.ALPN_PROTOCOLS),
        help="ALPN protocols for pools that name none.",
    ),
    cfg.IntOpt(
        "max_request_body_size",
        default=114688,
        help="Largest request body in bytes; larger bodies answer 413.",
    ),
    cfg.StrOpt("tls_certfile", help="Serve the API over HTTPS with this certificate."),
    cfg.StrOpt("tls_keyfile", help="Private key of tls_certfile."),
]

DATABASE_OPTS = [
    cfg.StrOpt("connection", default="sqlite://", secret=True, help="SQLAlchemy URL of the database."),
    # One API process serves up to HANDLER_THREADS requests at once; a connection taken above
    # the pool size is closed when returned, so a pool smaller than the usual concurrency
    # opens and closes a PostgreSQL connection per request in the overflow (p99 at 16
    # concurrent requests: 39-156 ms at 10, 18-29 ms at 20). Connections open lazily.
    cfg.IntOpt(
        "max_pool_size",
        default=20,
        help="Connections kept in the pool, opened as needed. Requests above it open a "
        "connection of their own and close it after, so set it to the requests one process "
        "serves at once.",
    ),
    cfg.IntOpt("max_overflow", default=20, help="Connections allowed above the pool size."),
    cfg.IntOpt("pool_timeout", default=10, help="Seconds to wait for a pooled connection."),
    cfg.IntOpt("connection_recycle_time", default=3600, help="Seconds before a connection is renewed."),
    cfg.IntOpt("max_retries", default=10, help="Retries while the database is unreachable at start."),
    cfg.IntOpt("retry_interval", default=10, help="Seconds between those retries."),
    cfg.IntOpt(
        "sqlite_busy_timeout",
        default=30000,
        help="Milliseconds SQLite waits for a lock before failing (Ostia).",
    ),
]

HEALTH_MANAGER_OPTS = [
    cfg.IPOpt("bind_ip", default="127.0.0.1", help="Address heartbeats are received on."),
    cfg.PortOpt("bind_port", default=5555, help="UDP port heartbeats are received on."),
    cfg.IntOpt("failover_threads", default=10, help="Concurrent automatic failovers."),
    cfg.IntOpt("health_update_threads", help="Workers applying status updates (default: CPUs)."),
    cfg.IntOpt("stats_update_threads", help="Workers applying statistics (default: CPUs)."),
    cfg.StrOpt(
        "heartbeat_key", secret=True, mutable=True, help="HMAC key shared with amphorae to sign heartbeats."
    ),
    cfg.StrOpt(
        "previous_heartbeat_key",
        secret=True,
        mutable=True,
        help="Key still accepted during a heartbeat key rotation (Ostia).",
    ),
    cfg.IntOpt(
        "heartbeat_timeout", default=60, help="Seconds without a heartbeat before an amphora is failed over."
    ),
    cfg.IntOpt("health_check_interval", default=3, help="Seconds between stale-amphora scans."),
    cfg.IntOpt("sock_rlimit", default=0, help="SO_RCVBUF of the heartbeat socket; 0 = OS default."),
    cfg.IntOpt(
        "failover_threshold", help="Stop automatic failover when this many amphorae are stale at once."
    ),
    cfg.ListOpt(
        "controller_ip_port_list",
        default=[],
        mutable=True,
        help="ip:port heartbeat destinations written into amphora configuration.",
    ),
    cfg.IntOpt(
        "heartbeat_interval", default=10, mutable=True, help="Seconds between heartbeats an amphora sends."
    ),
    cfg.IntOpt(
        "heartbeat_seq_window",
        default=100,
        min=1,
        mutable=True,
        help="Replay protection (Ostia): how far a heartbeat's sequence number may "
        "run ahead of the amphora's last one, besides two per "
        "heartbeat_interval since it was last heard. Further ahead is refused, "
        "so that one signed datagram with a huge number cannot make the "
        "genuine heartbeats after it look replayed.",
    ),
    cfg.FloatOpt(
        "status_flush_interval",
        default=0.5,
        min=0.01,
        help="Seconds between batched writes of heartbeat results (Ostia).",
    ),
    cfg.FloatOpt(
        "stats_write_interval",
        default=5.0,
        min=0.0,
        help="Seconds over which listener statistics from heartbeats are summed "
        "in memory before they are written (Ostia); 0 = at every status "
        "flush. Upstream amphorae report them every heartbeat_interval.",
    ),
]

HOUSE_KEEPING_OPTS = [
    cfg.IntOpt("cleanup_interval", default=30, help="Seconds between database cleanups."),
    cfg.IntOpt("amphora_expiry_age", default=604800, help="Seconds a DELETED amphora row is kept."),
    cfg.IntOpt(
        "load_balancer_expiry_age", default=604800, help="Seconds a DELETED load balancer row is kept."
    ),
    cfg.IntOpt("cert_interval", default=3600, help="Seconds between certificate rotation scans."),
    cfg.IntOpt(
        "cert_expiry_buffer",
        default=1209600,
        help="Rotate amphora certificates expiring within this many seconds.",
    ),
    cfg.IntOpt("cert_rotate_threads", default=10, help="Concurrent certificate rotations."),
    cfg.IntOpt(
        "spare_amphora_pool_size",
        default=0,
        help="Started, unassigned amphorae kept ready for new load balancers.",
    ),
    cfg.IntOpt("spare_check_interval", default=30, help="Seconds between spare pool checks."),
]

CERTIFICATES_OPTS = [
    cfg.StrOpt(
        "cert_generator",
        default="local_cert_generator",
        help="Driver that signs amphora server certificates.",
    ),
    cfg.StrOpt(
        "cert_manager", default="local_cert_manager", help="Driver that stores tenant TLS containers."
    ),
    cfg.StrOpt("barbican_auth", default="barbican_acl_auth", help="Unused: no Barbican here."),
    cfg.StrOpt(
        "ca_certificate",
        default="/etc/octavia/certs/server_ca.cert.pem",
        help="CA certificate that signs amphora server certificates.",
    ),
    cfg.StrOpt(
        "ca_private_key",
        default="/etc/octavia/certs/private/server_ca.key.pem",
        help="Private key of ca_certificate.",
    ),
    cfg.StrOpt("ca_private_key_passphrase", secret=True, help="Passphrase of ca_private_key."),
    cfg.ListOpt(
        "server_certs_key_passphrase",
        secret=True,
        default=["insecure-key-do-not-use-this-key"],
        help="Keys that encrypt amphora certificates at rest.",
    ),
    cfg.StrOpt("signing_digest", default="sha256", help="Digest used to sign certificates."),
    cfg.IntOpt("cert_validity_time", default=2592000, help="Seconds an amphora certificate is valid."),
    cfg.StrOpt(
        "storage_path",
        default="/var/lib/octavia/certificates/",
        help="Directory where local_cert_manager keeps TLS containers.",
    ),
]

HAPROXY_AMPHORA_OPTS = [
    cfg.StrOpt("base_path", default="/var/lib/octavia", help="Amphora-side working directory."),
    cfg.StrOpt(
        "base_cert_dir",
        default="/var/lib/octavia/certs",
        help="Amphora-side directory of listener certificates.",
    ),
    cfg.StrOpt("haproxy_template", help="Custom haproxy configuration template."),
    cfg.BoolOpt("connection_logging", default=True, help="Log tenant connections."),
    cfg.StrOpt(
        "http_reuse",
        default="safe",
        choices=("never", "safe", "aggressive", "always"),
        help="haproxy's http-reuse for HTTP pools (Ostia). `always` sends a new "
        "client's first request over an idle backend connection another client "
        "opened: about a third less proxy CPU per request for clients that "
        "close their connections (bench/bench_dataplane.py), but only right "
        "when every backend ties no state to a connection and keeps idle ones "
        "open; haproxy's default `safe` is what upstream renders.",
    ),
    cfg.IntOpt("connection_max_retries", default=120, help="Agent connection attempts."),
    cfg.FloatOpt("connection_retry_interval", default=5, help="Seconds between those attempts."),
    cfg.IntOpt(
        "active_connection_max_retries", default=15, help="Agent connection attempts during a failover."
    ),
    cfg.FloatOpt("active_connection_retry_interval", default=2, help="Seconds between those attempts."),
    cfg.IntOpt(
        "failover_connection_max_retries", default=2, help="Attempts when probing amphorae during a failover."
    ),
    cfg.IntOpt("failover_connection_retry_interval", default=5, help="Seconds between those probes."),
    cfg.IntOpt("build_rate_limit", default=-1, help="Builds per minute; -1 is unlimited."),
    cfg.IntOpt("build_active_retries", default=120, help="Retries while a build is throttled."),
    cfg.IntOpt("build_retry_interval", default=5, help="Seconds between those retries."),
    cfg.StrOpt("haproxy_stick_size", default="10k", help="Size of stick tables."),
    cfg.StrOpt(
        "user_log_format",
        default="{{ project_id }} {{ lb_id }} %f %ci %cp %t %{+Q}r %ST %B %U "
        "%[ssl_c_verify] %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc",
        help="Tenant log format.",
    ),
    cfg.HostAddressOpt("bind_host", default="::", help="Address the amphora agent listens on."),
    cfg.PortOpt("bind_port", default=9443, help="Port of the amphora agent."),
    cfg.StrOpt("lb_network_interface", default="o-hm0", help="Interface for IPv6 link-local."),
    cfg.StrOpt("haproxy_cmd", default="/usr/sbin/haproxy", help="haproxy binary."),
    cfg.StrOpt(
        "nginx_cmd",
        default="/usr/sbin/nginx",
        help="nginx binary (with the stream module) that serves UDP listeners.",
    ),
    cfg.IntOpt(
        "udp_proxy_responses",
        default=1,
        min=0,
        help="Replies after which a UDP session ends, so that the client's next "
        "datagram is balanced afresh (DNS-like request/response); 0 keeps a "
        "session until it is idle for the listener's timeout_client_data, "
        "as LVS does.",
    ),
    cfg.IntOpt("respawn_count", default=2, deprecated_for_removal=True, help="Deprecated."),
    cfg.IntOpt("respawn_interval", default=2, deprecated_for_removal=True, help="Deprecated."),
    cfg.FloatOpt("rest_request_conn_timeout", default=10, help="Agent connect timeout, seconds."),
    cfg.FloatOpt("rest_request_read_timeout", default=60, help="Agent read timeout, seconds."),
    cfg.IntOpt("timeout_client_data", default=50000, help="Default listener client timeout, ms."),
    cfg.IntOpt("timeout_member_connect", default=5000, help="Default member connect timeout, ms."),
    cfg.IntOpt("timeout_member_data", default=50000, help="Default member data timeout, ms."),
    cfg.IntOpt("timeout_tcp_inspect", default=0, help="Default TCP inspect delay, ms."),
    cfg.StrOpt(
        "client_cert",
        default="/etc/octavia/certs/client.pem",
        help="Controller client certificate and key (PEM) for the agent API.",
    ),
    cfg.StrOpt(
        "server_ca",
        default="/etc/octavia/certs/server_ca.pem",
        help="CA that signs amphora server certificates, to verify agents.",
    ),
    cfg.IntOpt("api_db_commit_retry_attempts", default=15, help="Retries waiting for API commits."),
    cfg.IntOpt("api_db_commit_retry_initial_delay", default=1, help="First wait, seconds."),
    cfg.IntOpt("api_db_commit_retry_backoff", default=1, help="Wait increment, seconds."),
    cfg.IntOpt("api_db_commit_retry_max", default=5, help="Longest wait, seconds."),
    cfg.IntOpt("default_connection_limit", default=50000, help="maxconn for unlimited listeners."),
]

CONTROLLER_WORKER_OPTS = [
    cfg.IntOpt("workers", default=1, min=1, help="Worker processes."),
    cfg.IntOpt("amp_active_retries", default=30, help="Checks while an amphora boots."),
    cfg.IntOpt("amp_active_wait_sec", default=10, help="Seconds between those checks."),
    cfg.StrOpt("amp_flavor_id", default="", help="Compute flavor of amphorae (unused locally)."),
    cfg.StrOpt("amp_image_tag", default="", help="Image tag of amphorae (unused locally)."),
    cfg.StrOpt("amp_image_owner_id", default="", help="Image owner (unused locally)."),
    cfg.StrOpt(
        "amp_ssh_key_name",
        default="",
        help="Public key file (OpenSSH format) allowed to log in as root to namespace "
        "amphorae on their management address; empty: no SSH server.",
    ),
    cfg.StrOpt("amp_timezone", default="UTC", help="Time zone of amphorae."),
    cfg.ListOpt("amp_boot_network_list", default=[], help="lb-mgmt networks amphorae boot on."),
    cfg.ListOpt("amp_secgroup_list", default=[], help="Security groups of amphorae."),
    cfg.StrOpt(
        "client_ca",
        default="/etc/octavia/certs/client_ca.pem",
        help="CA that signs the controller's client certificate, shipped to amphorae.",
    ),
    cfg.StrOpt(
        "amphora_driver",
        default="amphora_haproxy_rest_driver",
        help="Driver the worker talks to amphorae with.",
    ),
    cfg.StrOpt("compute_driver", default="compute_local_driver", help="Driver that starts amphorae."),
    cfg.StrOpt(
        "network_driver", default="network_local_driver", help="Driver that allocates and plugs VIPs."
    ),
    cfg.StrOpt("volume_driver", default="volume_noop_driver", help="Unused here."),
    cfg.StrOpt("image_driver", default="image_noop_driver", help="Unused here."),
    cfg.StrOpt("distributor_driver", default="distributor_noop_driver", help="Unused here."),
    cfg.ListOpt("statistics_drivers", default=["stats_db"], help="Where statistics go."),
    cfg.StrOpt(
        "loadbalancer_topology",
        default="SINGLE",
        choices=["SINGLE", "ACTIVE_STANDBY"],
        mutable=True,
        help="Amphora topology of new load balancers.",
    ),
    cfg.BoolOpt("user_data_config_drive", default=False, deprecated_for_removal=True, help="Deprecated."),
    cfg.IntOpt("amphora_delete_retries", default=5, help="Attempts to delete an amphora."),
    cfg.IntOpt("amphora_delete_retry_interval", default=5, help="Seconds between them."),
    cfg.BoolOpt("event_notifications", default=True, help="Emit oslo notifications."),
    cfg.IntOpt("db_commit_retry_attempts", default=2000, help="Retries waiting for DB commits."),
    cfg.IntOpt("db_commit_retry_initial_delay", default=1, help="First wait, seconds."),
    cfg.IntOpt("db_commit_retry_backoff", default=1, help="Wait increment, seconds."),
    cfg.IntOpt("db_commit_retry_max", default=5, help="Longest wait, seconds."),
]

RECONCILER_OPTS = [
    cfg.IntOpt(
        "lease_seconds",
        default=30,
        min=1,
        help="How long a worker's claim on a load balancer lasts unless renewed.",
    ),
    cfg.FloatOpt(
        "sweep_interval",
        default=3.0,
        min=0.1,
        help="Seconds between sweeps for load balancers left in PENDING_*.",
    ),
    cfg.IntOpt(
        "max_attempts",
        default=5,
        min=1,
        help="Attempts of a failing reconcile before its objects go to ERROR.",
    ),
    cfg.FloatOpt("retry_initial_delay", default=0.5, help="First back-off delay, seconds."),
    cfg.FloatOpt("retry_max_delay", default=10.0, help="Longest back-off delay, seconds."),
]

TASK_FLOW_OPTS = [
    cfg.StrOpt("engine", default="parallel", choices=["serial", "parallel"], help="Unused here."),
    cfg.IntOpt("max_workers", default=5, help="Parallel reconciles in one worker process."),
    cfg.BoolOpt("disable_revert", default=False, help="Unused here."),
    cfg.StrOpt("persistence_connection", default="sqlite://", secret=True, help="Unused here."),
    cfg.BoolOpt("jobboard_enabled", default=False, help="Unused: leases replace the jobboard."),
    cfg.IntOpt("jobboard_expiration_time", default=30, help="Unused here."),
]

OSLO_MESSAGING_OPTS = [
    cfg.StrOpt("topic", default="octavia_prov", help="RPC topic from the API to workers."),
]

OSLO_MESSAGING_RABBIT_OPTS = [
    cfg.StrOpt(
        "rabbit_host", default="localhost", deprecated_for_removal=True, help="Deprecated: use transport_url."
    ),
    cfg.PortOpt("rabbit_port", default=5672, deprecated_for_removal=True, help="Deprecated."),
    cfg.StrOpt(
        "rabbit_userid", default="guest", deprecated_for_removal=True, help="Deprecated: use transport_url."
    ),
    cfg.StrOpt(
        "rabbit_password",
        default="guest",
        secret=True,
        deprecated_for_removal=True,
        help="Deprecated: use transport_url.",
    ),
]

KEYSTONE_AUTHTOKEN_OPTS = [
    cfg.StrOpt("www_authenticate_uri", help="Keystone URI returned in WWW-Authenticate."),
    cfg.StrOpt("auth_url", help="Keystone URL the API validates tokens with."),
    cfg.StrOpt("auth_type", default="password", help="keystoneauth plugin name."),
    cfg.StrOpt("username", help="Service user."),
    cfg.StrOpt("password", secret=True, help="Service user's password."),
    cfg.StrOpt("project_name", default="service", help="Service project."),
    cfg.StrOpt("user_domain_name", default="Default", help="Service user's domain."),
    cfg.StrOpt("project_domain_name", default="Default", help="Service project's domain."),
    cfg.StrOpt("admin_user", deprecated_for_removal=True, help="Deprecated service user."),
    cfg.StrOpt("admin_password", secret=True, deprecated_for_removal=True, help="Deprecated."),
    cfg.StrOpt("admin_tenant_name", deprecated_for_removal=True, help="Deprecated."),
    cfg.StrOpt("auth_version", help="Identity API version."),
    cfg.ListOpt("memcached_servers", help="Token cache servers."),
    cfg.StrOpt("cafile", help="CA bundle to verify Keystone."),
    cfg.StrOpt("region_name", help="Region of the identity endpoint."),
    cfg.BoolOpt("service_token_roles_required", default=False, help="Require service roles."),
    cfg.IntOpt("token_cache_time", default=300, help="Seconds a validated token is cached."),
    cfg.BoolOpt("insecure", default=False, help="Do not verify Keystone's HTTPS certificate."),
    cfg.IntOpt(
        "http_connect_timeout",
        default=10,
        min=1,
        help="Seconds to wait for Keystone when validating a token.",
    ),
    cfg.IntOpt(
        "http_request_max_retries",
        default=3,
        min=0,
        help="Retries of a Keystone request that could not connect.",
    ),
]

AMPHORA_AGENT_OPTS = [
    cfg.StrOpt(
        "agent_server_ca",
        default="/etc/octavia/certs/client_ca.pem",
        help="CA that signs the controller's client certificate.",
    ),
    cfg.StrOpt(
        "agent_server_cert", default="/etc/octavia/certs/server.pem", help="Agent certificate and key (PEM)."
    ),
    cfg.StrOpt("agent_server_network_dir", help="Where interface files are written."),
    cfg.IntOpt("agent_request_read_timeout", default=180, help="Agent request timeout, seconds."),
    cfg.StrOpt(
        "agent_tls_protocol",
        default="TLSv1.2",
        choices=["TLSv1.2", "TLSv1.3"],
        help="Lowest TLS version the agent accepts.",
    ),
    cfg.ListOpt("admin_log_targets", help="ip:port syslog targets for admin logs."),
    cfg.ListOpt("tenant_log_targets", help="ip:port syslog targets for tenant logs."),
    cfg.IntOpt("user_log_facility", default=0, min=0, max=7, help="LOG_LOCALn of tenant logs."),
    cfg.IntOpt("administrative_log_facility", default=1, min=0, max=7, help="LOG_LOCALn of admin logs."),
    cfg.StrOpt("log_protocol", default="UDP", choices=["TCP", "UDP"], help="Syslog transport."),
    cfg.IntOpt("log_retry_count", default=5, help="Syslog retries."),
    cfg.IntOpt("log_retry_interval", default=2, help="Seconds between them."),
    cfg.IntOpt("log_queue_size", default=10000, help="Syslog queue size."),
    cfg.StrOpt("logging_template_override", help="Custom rsyslog template."),
    cfg.BoolOpt("forward_all_logs", default=False, help="Forward every log."),
    cfg.BoolOpt("disable_local_log_storage", default=False, help="Keep no logs locally."),
    cfg.StrOpt("amphora_id", help="This amphora's id."),
    cfg.StrOpt(
        "amphora_udp_driver", default="keepalived_lvs", deprecated_for_removal=True, help="Deprecated."
    ),
]

KEEPALIVED_VRRP_OPTS = [
    cfg.FloatOpt(
        "vrrp_advert_int",
        default=1,
        min=0.01,
        max=255,
        help="VRRP advertisement interval, seconds; below 1 s (VRRPv3) takes "
        "over within about 3.5 intervals.",
    ),
    cfg.IntOpt("vrrp_check_interval", default=5, help="Check script period, seconds."),
    cfg.IntOpt("vrrp_fail_count", default=2, help="Failed checks before FAULT."),
    cfg.IntOpt("vrrp_success_count", default=2, help="Passed checks before recovery."),
    cfg.IntOpt("vrrp_garp_refresh_interval", default=5, help="GARP refresh period, seconds."),
    cfg.IntOpt("vrrp_garp_refresh_count", default=2, help="GARPs per refresh."),
]

NETWORKING_OPTS = [
    cfg.IntOpt("max_retries", default=15, help="Network driver retries."),
    cfg.IntOpt("retry_interval", default=1, help="Seconds between them."),
    cfg.IntOpt("retry_backoff", default=1, help="Back-off increment."),
    cfg.IntOpt("retry_max", default=10, help="Longest wait."),
    cfg.IntOpt("port_detach_timeout", default=300, help="Seconds to wait for a port detach."),
    cfg.BoolOpt("allow_vip_network_id", default=True, help="Allow vip_network_id."),
    cfg.BoolOpt("allow_vip_subnet_id", default=True, help="Allow vip_subnet_id."),
    cfg.BoolOpt("allow_vip_port_id", default=True, help="Allow vip_port_id."),
    cfg.ListOpt("valid_vip_networks", help="Networks VIPs may be on (empty: all)."),
    cfg.ListOpt("denylist_vip_networks", default=[], help="Networks VIPs may not be on."),
    cfg.ListOpt("reserved_ips", default=["169.254.169.254"], help="Addresses members may not use."),
    cfg.BoolOpt("allow_invisible_resource_usage", default=False, help="Unused here."),
]

QUOTAS_OPTS = [
    cfg.IntOpt("default_load_balancer_quota", default=-1, help="Load balancers per project."),
    cfg.IntOpt("default_listener_quota", default=-1, help="Listeners per project."),
    cfg.IntOpt("default_member_quota", default=-1, help="Members per project."),
    cfg.IntOpt("default_pool_quota", default=-1, help="Pools per project."),
    cfg.IntOpt("default_health_monitor_quota", default=-1, help="Health monitors per project."),
    cfg.IntOpt("default_l7policy_quota", default=-1, help="L7 policies per project."),
    cfg.IntOpt("default_l7rule_quota", default=-1, help="L7 rules per project."),
]


def _oslo_policy_opts() -> list[cfg.Opt]:
    """oslo.policy's own [oslo_policy] options, with the legacy-role-friendly default.

    oslo.policy registers these itself when an Enforcer is built, and oslo.config refuses a
    second definition that differs in any way, so the options here must be its own.
    enforce_new_defaults=False keeps Octavia's deprecated load-balancer_* roles working
    (their deprecated rules are OR'ed in), as upstream Octavia deployments expect.
    """
    policy_opts.set_defaults(cfg.ConfigOpts(), enforce_new_defaults=False)
    return list(policy_opts.list_opts()[0][1])


OSLO_POLICY_OPTS = _oslo_policy_opts()

OSTIA_OPTS = [
    cfg.StrOpt(
        "state_dir",
        default="/var/lib/ostia",
        help="Where Ostia keeps its database, certificates and local amphorae.",
    ),
    cfg.StrOpt(
        "default_project_id",
        default="admin",
        help="Project of objects created with noauth and no project given.",
    ),
]

LOCAL_NETWORK_OPTS = [
    # /16s: one host holds thousands of VIPs (a /24 refused the 254th load balancer),
    # clear of the management range (127.1.0.0/16) and of 127.0.0.1.
    cfg.ListOpt(
        "subnets",
        default=["private-subnet:127.2.0.0/16", "public-subnet:127.3.0.0/16"],
        help="name:CIDR loopback subnets that VIPs and members may use.",
    ),
]

LOCAL_COMPUTE_OPTS = [
    cfg.StrOpt(
        "mgmt_cidr",
        default="127.1.0.0/16",
        help="Loopback range that amphora agents get management addresses from.",
    ),
    cfg.StrOpt("amphora_dir", help="Where local amphorae live (default: <state_dir>/amphorae)."),
    cfg.BoolOpt(
        "share_agent_memory",
        default=True,
        help="Fork agents from one pre-loaded process (ostia.cmd.agent_zygote) so "
        "that they share the memory of their Python modules; each agent is "
        "still a process of its own.",
    ),
]

NETNS_COMPUTE_OPTS = [
    cfg.StrOpt(
        "mgmt_bridge",
        default="ost-mgmt",
        help="lb-mgmt bridge joining this host and every namespace amphora "
        "(names of everything the netns drivers create start with ost-).",
    ),
    cfg.StrOpt(
        "mgmt_cidr",
        default="198.18.0.0/22",
        help="lb-mgmt subnet, IPv4 or IPv6 (for example a ULA such as fd00:ab::/64); "
        "the host takes its first address (the health manager's bind_ip), amphorae "
        "the others. Never routed outside.",
    ),
    cfg.StrOpt(
        "amphora_dir",
        help="Where namespace amphorae keep their files (default: "
        "<state_dir>/nsamp; short: haproxy's socket paths live under it).",
    ),
]

NETNS_NETWORK_OPTS = [
    cfg.ListOpt(
        "subnets",
        default=["private-subnet:198.18.16.0/24", "public-subnet:198.18.17.0/24"],
        help="name:CIDR tenant subnets, one bridge each; VIPs are taken from the "
        "bottom of a subnet, amphora ports from the top. Subnets may overlap.",
    ),
]

NETNS_AMPHORA_OPTS = [
    cfg.StrOpt(
        "vip_namespace",
        default="",
        help="Read by the agent of a namespace amphora: the network namespace its VIP "
        "interfaces, haproxy and keepalived live in (upstream's amphora-haproxy). "
        "Empty: a local amphora, nothing to plug.",
    ),
]

SECTIONS: dict[str | None, Sequence[cfg.Opt]] = {
    None: DEFAULT_OPTS,
    "api_settings": API_OPTS,
    "database": DATABASE_OPTS,
    "health_manager": HEALTH_MANAGER_OPTS,
    "house_keeping": HOUSE_KEEPING_OPTS,
    "certificates": CERTIFICATES_OPTS,
    "haproxy_amphora": HAPROXY_AMPHORA_OPTS,
    "controller_worker": CONTROLLER_WORKER_OPTS,
    "reconciler": RECONCILER_OPTS,
    "task_flow": TASK_FLOW_OPTS,
    "oslo_messaging": OSLO_MESSAGING_OPTS,
    "oslo_messaging_rabbit": OSLO_MESSAGING_RABBIT_OPTS,
    "keystone_authtoken": KEYSTONE_AUTHTOKEN_OPTS,
    "amphora_agent": AMPHORA_AGENT_OPTS,
    "keepalived_vrrp": KEEPALIVED_VRRP_OPTS,
    "networking": NETWORKING_OPTS,
    "quotas": QUOTAS_OPTS,
    "oslo_policy": OSLO_POLICY_OPTS,
    "ostia": OSTIA_OPTS,
    "local_network": LOCAL_NETWORK_OPTS,
    "local_compute": LOCAL_COMPUTE_OPTS,
    "netns_compute": NETNS_COMPUTE_OPTS,
    "netns_network": NETNS_NETWORK_OPTS,
    "netns_amphora": NETNS_AMPHORA_OPTS,
}

# Options whose values name a stevedore driver: checked at start so that a typo stops the
# service with one line instead of a traceback on first use.
DRIVER_OPTIONS = {
    ("controller_worker", "compute_driver"): "octavia.compute.drivers",
    ("controller_worker", "network_driver"): "octavia.network.drivers",
    ("controller_worker", "amphora_driver"): "octavia.amphora.drivers",
    ("certificates", "cert_generator"): "octavia.cert_generator",
    ("certificates", "cert_manager"): "octavia.cert_manager",
}


class ConfigError(Exception):
    """A configuration value that stops a service from starting."""


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator: every section with its options."""
    return [(group or "DEFAULT", list(opts)) for group, opts in SECTIONS.items()]


def register_opts(conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    """Register every option on `conf` (idempotent)."""
    for group, opts in SECTIONS.items():
        for opt in opts:
            try:
                conf.register_opt(opt, group=group)
            except cfg.DuplicateOptError:
                pass
    return conf


def new_config() -> cfg.ConfigOpts:
    """A fresh, private ConfigOpts with every option registered (tests, all-in-one)."""
    return register_opts(cfg.ConfigOpts())


def load_config(
    config_files: Sequence[str],
    args: Sequence[str] = (),
    prog: str = "ostia",
) -> cfg.ConfigOpts:
    """Parse `config_files` (later files win) into a new ConfigOpts and validate it.

    Raises ConfigError with one readable line when a value is malformed.
    """
    conf = new_config()
    try:
        conf(
            list(args),
            project="octavia",
            prog=prog,
            default_config_files=list(config_files),
            validate_default_values=True,
        )
        check_values(conf)
    except (cfg.Error, ValueError) as exc:
        raise ConfigError(_one_line(exc)) from exc
    return conf


def check_values(conf: cfg.ConfigOpts) -> None:
    """Read every option once so that malformed values fail now, not on first use."""
    for group, opts in SECTIONS.items():
        section = conf if group is None else conf[group]
        for opt in opts:
            try:
                getattr(section, opt.dest)
            except (cfg.Error, ValueError) as exc:
                raise ConfigError(
                    f"invalid value for [{group or 'DEFAULT'}] {opt.name}: {_one_line(exc)}"
                ) from exc


def check_drivers(conf: cfg.ConfigOpts, options: Iterable[tuple[str, str]] | None = None) -> None:
    """Fail with one line if a driver option names no installed driver."""
    from importlib.metadata import entry_points

    for (group, name), namespace in DRIVER_OPTIONS.items():
        if options is not None and (group, name) not in options:
            continue
        value = conf[group][name]
        names = {ep.name for ep in entry_points(group=namespace)}
        if value not in names:
            raise ConfigError(
                f"[{group}] {name} = {value!r} is not a known driver; choose one of "
                f"{', '.join(sorted(names))}"
            )
    providers = set(conf.api_settings.enabled_provider_drivers)
    known = {ep.name for ep in entry_points(group="octavia.api.drivers")}
    unknown = providers - known
    if unknown:
        raise ConfigError(
            f"[api_settings] enabled_provider_drivers names unknown providers: "
            f"{', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )
    default = conf.api_settings.default_provider_driver
    if default not in providers:
        raise ConfigError(
            f"[api_settings] default_provider_driver = {default!r} is not in enabled_provider_drivers"
        )


def pagination_max_limit(conf: cfg.ConfigOpts) -> int | None:
    """The page size ceiling, None for unlimited."""
    raw = str(conf.api_settings.pagination_max_limit).strip().lower()
    if raw == "infinite":
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(
            f"[api_settings] pagination_max_limit = {raw!r} is neither a number nor 'infinite'"
        ) from exc
    return None if value < 1 else value


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
