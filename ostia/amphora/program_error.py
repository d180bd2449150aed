"""The failure of a data-plane program the agent drives (haproxy, nginx, keepalived)."""

from __future__ import annotations


class ProgramError(Exception):
    """A program did not do what was asked: `message` says what, `details` holds its own
    words (the agent answers both to the controller)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(f"{message}: {details}" if details else message)
        self.message = message
        self.details = details
