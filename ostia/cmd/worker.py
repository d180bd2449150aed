"""octavia-worker: Run a controller worker."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ostia.cmd import runtime
from ostia.controller.worker.service import WorkerService


def main(argv: Sequence[str] | None = None) -> int:
    return runtime.run_service("octavia-worker", "Run a controller worker.", WorkerService, argv)


if __name__ == "__main__":
    sys.exit(main())
