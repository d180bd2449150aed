"""Octavia's RBAC rules: oslo.policy defaults registered under the `octavia` namespace.

`oslopolicy-sample-generator --namespace octavia` lists them; the API maps each route to
one of them (see `ostia.api.policy`).
"""

from __future__ import annotations

from oslo_policy import policy

from ostia.policies import base, load_balancing, operator


def list_rules() -> list[policy.RuleDefault]:
    """Every rule with its default check string (entry point `oslo.policy.policies`)."""
    return [*base.list_rules(), *load_balancing.list_rules(), *operator.list_rules()]
