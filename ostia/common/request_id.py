"""Request ids (`req-<uuid>`, as OpenStack services send them) and their place in logs.

The API gives every request an id, answers it in `x-openstack-request-id` and binds it
here while the request runs. The worker binds the id stored with a load balancer while it
reconciles that load balancer, so every log line of the work a request caused carries the
request's id. Log records get it as `%(request_id)s` ("-" when none is bound).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import uuid
from collections.abc import Iterator

HEADER = "x-openstack-request-id"
_FORMAT = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


def is_request_id(value: str | None) -> bool:
    """True for a well-formed `req-<uuid>` (an incoming id is only logged if it is one)."""
    # fullmatch: a `$` would let a trailing newline (a forged log line) through.
    return bool(value) and bool(_FORMAT.fullmatch(value or ""))


def current() -> str | None:
    """The id of the request (or of the work it caused) this code runs for, if any."""
    return _current.get()


@contextlib.contextmanager
def bound(request_id: str | None) -> Iterator[None]:
    """Bind `request_id` for log lines written inside the block (this thread/task only)."""
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)


def bind(request_id: str | None) -> contextvars.Token[str | None]:
    return _current.set(request_id)


def unbind(token: contextvars.Token[str | None]) -> None:
    _current.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record its handler formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get() or "-"
        return True
