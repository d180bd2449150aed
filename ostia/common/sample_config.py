"""The sample octavia.conf, generated from the option definitions by oslo-config-generator."""

from __future__ import annotations

import os
import tempfile

from oslo_config import cfg, generator


def sample_config() -> str:
    """Every option with its default and help, as `etc/octavia.conf` ships it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "octavia.conf")
        conf = cfg.ConfigOpts()
        generator.register_cli_opts(conf)
        conf(["--namespace", "octavia", "--output-file", path, "--wrap-width", "79"], project="ostia-sample")
        generator.generate(conf)
        with open(path, encoding="utf-8") as handle:
            return handle.read()
