"""Octavia's enumerations and limits, as the v2 API and the amphora agent use them."""

from __future__ import annotations

# Provisioning statuses
ACTIVE = "ACTIVE"
PENDING_CREATE = "PENDING_CREATE"
PENDING_UPDATE = "PENDING_UPDATE"
PENDING_DELETE = "PENDING_DELETE"
DELETED = "DELETED"
ERROR = "ERROR"
PENDING_STATUSES = (PENDING_CREATE, PENDING_UPDATE, PENDING_DELETE)

# Amphora statuses
AMPHORA_BOOTING = "BOOTING"
AMPHORA_ALLOCATED = "ALLOCATED"
AMPHORA_READY = "READY"
FAILOVER_STOPPED = "FAILOVER_STOPPED"

# Operating statuses
ONLINE = "ONLINE"
OFFLINE = "OFFLINE"
DEGRADED = "DEGRADED"
DRAINING = "DRAINING"
NO_MONITOR = "NO_MONITOR"

# Protocols
HTTP = "HTTP"
HTTPS = "HTTPS"
TCP = "TCP"
TERMINATED_HTTPS = "TERMINATED_HTTPS"
UDP = "UDP"
SCTP = "SCTP"
PROMETHEUS = "PROMETHEUS"
PROXY = "PROXY"
PROXYV2 = "PROXYV2"
LISTENER_PROTOCOLS = (HTTP, HTTPS, TCP, TERMINATED_HTTPS, UDP, SCTP, PROMETHEUS)
POOL_PROTOCOLS = (HTTP, HTTPS, TCP, PROXY, PROXYV2, UDP, SCTP)

# Listener protocol -> pool protocols it may forward to.
LISTENER_POOL_COMPATIBILITY: dict[str, tuple[str, ...]] = {
    HTTP: (HTTP, PROXY, PROXYV2),
    HTTPS: (HTTPS, PROXY, PROXYV2, TCP),
    TCP: (HTTP, HTTPS, PROXY, PROXYV2, TCP),
    TERMINATED_HTTPS: (HTTP, PROXY, PROXYV2),
    UDP: (UDP,),
    SCTP: (SCTP,),
    PROMETHEUS: (),
}

# Listeners sharing one L4 family may not share a port on one load balancer.
L4_FAMILY = {
    HTTP: TCP,
    HTTPS: TCP,
    TCP: TCP,
    TERMINATED_HTTPS: TCP,
    PROMETHEUS: TCP,
    UDP: UDP,
    SCTP: SCTP,
}

# Load-balancing algorithms
ROUND_ROBIN = "ROUND_ROBIN"
LEAST_CONNECTIONS = "LEAST_CONNECTIONS"
SOURCE_IP = "SOURCE_IP"
SOURCE_IP_PORT = "SOURCE_IP_PORT"
LB_ALGORITHMS = (ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, SOURCE_IP_PORT)

# Session persistence
HTTP_COOKIE = "HTTP_COOKIE"
APP_COOKIE = "APP_COOKIE"
SESSION_PERSISTENCE_TYPES = (SOURCE_IP, HTTP_COOKIE, APP_COOKIE)

# Health monitors
HM_PING = "PING"
HM_TLS_HELLO = "TLS-HELLO"
HM_UDP_CONNECT = "UDP-CONNECT"
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH")

# L7
L7_ACTIONS = ("REJECT", "REDIRECT_TO_URL", "REDIRECT_TO_POOL", "REDIRECT_PREFIX")
L7_RULE_TYPES = (
    "HOST_NAME",
    "PATH",
    "FILE_TYPE",
    "HEADER",
    "COOKIE",
    "SSL_CONN_HAS_CERT",
    "SSL_VERIFY_RESULT",
    "SSL_DN_FIELD",
)
L7_COMPARE_TYPES = ("REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO")
REDIRECT_HTTP_CODES = (301, 302, 303, 307, 308)
MAX_L7_RULES_PER_POLICY = 50

# Listener
CLIENT_AUTH_TYPES = ("NONE", "OPTIONAL", "MANDATORY")
TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")
DEFAULT_CONNECTION_LIMIT = -1
INSERT_HEADERS_HTTP = (
    "X-Forwarded-For",
    "X-Forwarded-Port",
    "X-Forwarded-Proto",
    "X-Forwarded-IP",
    "X-Client-IP",
    "X-Real-IP",
)
INSERT_HEADERS_TLS = (
    "X-SSL-Client-Verify",
    "X-SSL-Client-Has-Cert",
    "X-SSL-Client-DN",
    "X-SSL-Client-CN",
    "X-SSL-Issuer",
    "X-SSL-Client-SHA1",
    "X-SSL-Client-Not-Before",
    "X-SSL-Client-Not-After",
)

# Topologies and roles
TOPOLOGY_SINGLE = "SINGLE"
TOPOLOGY_ACTIVE_STANDBY = "ACTIVE_STANDBY"
ROLE_STANDALONE = "STANDALONE"
ROLE_MASTER = "MASTER"
ROLE_BACKUP = "BACKUP"

# Limits
MAX_QUOTA = 2000000000
MIN_QUOTA = -1
NAME_LENGTH = 255
NIL_UUID = "00000000-0000-0000-0000-000000000000"

# API version document: one entry per minor version, the newest CURRENT.
API_MINOR_VERSIONS = 30
API_VERSION_DATES = {0: "2016-12-11T00:00:00Z", 30: "2025-02-26T00:00:00Z"}

# haproxy refuses unix socket paths longer than this (sun_path's 108 bytes less its own
# margin). The longest an amphora uses is its stats socket `<base_path>/<lb uuid>.sock`,
# which bounds `[haproxy_amphora] base_path` (the agent, the renderer and the compute
# drivers that choose it all check this one bound).
HAPROXY_MAX_SOCKET_PATH = 97
HAPROXY_MAX_BASE_PATH = HAPROXY_MAX_SOCKET_PATH - len(f"/{NIL_UUID}.sock")

# An agent keeps an idle connection from the controller open this long (uvicorn's default
# is 5 s); the controller lets its side go a few seconds sooner, so that it never sends on
# a connection the agent is closing. A reconcile within a minute of the last one to the same
# amphora then skips the TCP and mutual-TLS handshakes: about 4 ms of a member change.
AGENT_KEEPALIVE_SECONDS = 60
AGENT_CLIENT_KEEPALIVE_SECONDS = AGENT_KEEPALIVE_SECONDS - 5
