"""amphora-agent --config-file PATH: the agent that runs inside an amphora."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from ostia.common.config import ConfigError, load_config

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        conf = load_config([], args=args, prog="amphora-agent")
    except ConfigError as exc:
        print(f"amphora-agent: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        filename=conf.log_file,
        level=logging.DEBUG if conf.debug else logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    from ostia.amphora.agent import Agent
    from ostia.amphora.server import serve

    agent = Agent(conf, list(conf.config_file or []))
    try:
        agent.prepare()
    except (ValueError, OSError) as exc:
        print(f"amphora-agent: {exc}", file=sys.stderr)
        return 2
    serve(agent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
