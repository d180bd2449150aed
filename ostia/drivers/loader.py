"""Loads a driver by its stevedore entry point name (Octavia's option values)."""

from __future__ import annotations

from typing import Any

from stevedore import driver as stevedore_driver


def load_driver(namespace: str, name: str, *args: Any) -> Any:
    """Instantiate the driver `name` registered under `namespace` with `args`."""
    manager: Any = stevedore_driver.DriverManager(namespace, name, invoke_on_load=True, invoke_args=args)
    return manager.driver
