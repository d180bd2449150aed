"""octavia-health-manager: Receive heartbeats and fail over dead amphorae."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ostia.cmd import runtime
from ostia.controller.health.service import HealthManagerService


def main(argv: Sequence[str] | None = None) -> int:
    return runtime.run_service(
        "octavia-health-manager", "Receive heartbeats, fail over dead amphorae.", HealthManagerService, argv
    )


if __name__ == "__main__":
    sys.exit(main())
