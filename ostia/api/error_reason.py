"""Why an object is in ERROR, as its tenant may read it: `provisioning_status_reason`.

Upstream has no field for this: an object in ERROR says nothing about why. Ostia adds one
read-only attribute to load balancer, listener, pool, member, health monitor, L7 policy and
L7 rule responses (clients ignore attributes they do not know; tenant fields such as
`description` stay the tenant's). Its text comes from the worker's record on the load
balancer (`last_error`):

- the load balancer shows it whenever the worker left one (ERROR, or a failed attempt
  being retried), a child only while the child itself is in ERROR;
- a refusal the tenant can act on (a value the renderer or `haproxy -c` refused, a
  certificate that does not load, an unsupported topology) is shown as the worker wrote
  it, with the amphora's file paths cut to their file names;
- anything else (an unreachable amphora, a compute or network driver failure) is the
  operator's business: the tenant reads that the service failed, not its internals.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ostia.common import constants as c
from ostia.db import models

# Exception names (as the reconciler writes them: "<Name>: <text>") of refusals caused by
# the tenant's own configuration.
_TENANT_CAUSES = re.compile(
    r"\b(?:HaproxyRenderError|UnsafeValue|AgentInvalidRequest|CertificateNotFound|"
    r"InvalidCertificate|PermanentError): "
)
# An absolute path (not part of a URL), kept to its last segment.
_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/:'\"\[\]()]+/)+([^\s/:'\"\[\]()]+)")
# haproxy's informational lines (its version, its executable's path) say nothing about
# what was refused.
_NOTICE = re.compile(r"\[NOTICE\][^\n]*(?:\n|$)")
SERVICE_FAILURE = (
    "The service could not apply this configuration to the data plane; the operator's log has the details."
)


def tenant_text(last_error: str | None) -> str | None:
    """The part of a worker error a tenant may read (None when there is none)."""
    if not last_error:
        return None
    found = _TENANT_CAUSES.search(last_error)
    if found is None:
        return SERVICE_FAILURE
    return _PATH.sub(r"\1", _NOTICE.sub("", last_error[found.start() :])).strip()


def of_load_balancer(lb: models.LoadBalancer) -> str | None:
    return tenant_text(lb.last_error)


def of_child(child: Any, load_balancer: Callable[[], models.LoadBalancer | None]) -> str | None:
    """A child's reason: its load balancer's, while the child is in ERROR (the load
    balancer is looked up only then, so listing healthy objects costs no extra query)."""
    if child.provisioning_status != c.ERROR:
        return None
    owner = load_balancer()
    return (tenant_text(owner.last_error) if owner is not None else None) or SERVICE_FAILURE
