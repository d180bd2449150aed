"""octavia-housekeeping: Clean up, rotate certificates, keep spares."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ostia.cmd import runtime
from ostia.controller.housekeeping.service import HousekeepingService


def main(argv: Sequence[str] | None = None) -> int:
    return runtime.run_service(
        "octavia-housekeeping", "Clean up, rotate certificates, keep spares.", HousekeepingService, argv
    )


if __name__ == "__main__":
    sys.exit(main())
