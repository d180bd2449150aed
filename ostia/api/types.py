"""Field types shared by every request schema, and body parsing with Octavia's errors.

Request bodies are parsed with pydantic in strict mode: a string is never a boolean (a
string of digits is an integer, as upstream takes it: see `Int`), an unknown attribute is
refused, and every failure becomes a 400 whose faultstring names the field, as WSME does
upstream.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ostia.api import safe_json
from ostia.common import addresses, limits
from ostia.common import constants as c
from ostia.common import exceptions as exc

# Characters that would break out of a line or a quoted token in a rendered haproxy or
# keepalived configuration. Rejected in every free-text field a tenant controls.
_CONTROL_CHARS = limits.CONTROL_CHARS


def _no_control_chars(value: str | None) -> str | None:
    if value is not None and _CONTROL_CHARS.search(value):
        raise ValueError("Control characters (such as newlines) are not allowed")
    return value


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError("Invalid UUID") from None


# Addresses are stored in their canonical form, so equal addresses compare equal in the
# database (duplicate members and VIPs are found) and the renderer writes what it checks.
def _ip_address(value: str) -> str:
    try:
        return addresses.canonical_address(value)
    except addresses.InvalidAddress:
        raise ValueError(
            "Invalid IP address: a plain IPv4 or IPv6 address is expected (no zone id, blank or brackets)"
        ) from None


def _cidr(value: str) -> str:
    try:
        return addresses.canonical_cidr(value)
    except addresses.InvalidAddress:
        raise ValueError("Invalid CIDR: an IPv4 or IPv6 address/prefix-length is expected") from None


def _integer_as_upstream(value: Any) -> Any:
    """An integer, or a string Python's int() reads, as upstream's WSME takes them.

    WSME converts with int(value): "80", " 80 ", "+80" and "8_0" pass, "80.5", "1e3", ""
    and "abc" do not. Booleans and numbers with a fraction are refused here, where WSME
    would silently turn `true` into 1 and 80.5 into 80; an integral float (80.0) passes.
    """
    if isinstance(value, bool):
        raise ValueError("Expected an integer, not a boolean")
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ValueError("Expected an integer") from None
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("Expected an integer, not a number with a fraction")
        return int(value)
    return value  # an int passes; anything else fails the strict int check


def _number_as_upstream(value: Any) -> Any:
    """A number, or a string Python's float() reads (WSME converts with float(value))."""
    if isinstance(value, bool):
        raise ValueError("Expected a number, not a boolean")
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError("Expected a number") from None
    if isinstance(value, int):
        return float(value)
    return value


# Every integer and number field of a request schema is one of these (strict mode would
# refuse "80", which upstream's own API reference sends).
Int = Annotated[int, BeforeValidator(_integer_as_upstream)]
Float = Annotated[float, BeforeValidator(_number_as_upstream)]
Text255 = Annotated[str, Field(max_length=c.NAME_LENGTH), AfterValidator(_no_control_chars)]
Name = Text255 | None
UUID = Annotated[str, AfterValidator(_uuid)]
IPAddress = Annotated[str, AfterValidator(_ip_address)]
CIDR = Annotated[str, AfterValidator(_cidr)]
Port = Annotated[Int, Field(ge=limits.PORT.low, le=limits.PORT.high)]
ProjectId = Annotated[str, Field(max_length=36), AfterValidator(_no_control_chars)]
Tag = Annotated[str, Field(max_length=255), AfterValidator(_no_control_chars)]
Tags = list[Tag]
# Database integer columns are 32-bit on PostgreSQL: bound every unbounded int.
INT32_MAX = limits.INT32_MAX
TimeoutMs = Annotated[Int, Field(ge=limits.TIMEOUT_MS.low, le=limits.TIMEOUT_MS.high)]


class Schema(BaseModel):
    """Base of every request schema: strict types, unknown attributes refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    def sent(self) -> dict[str, Any]:
        """Only the attributes the caller sent (null included), by field name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


SchemaT = TypeVar("SchemaT", bound=Schema)


def decode_json(raw: bytes) -> Any:
    """Decode a request body; malformed JSON is a 400, never a 500."""
    if not raw:
        raise exc.BadRequest("The request body is empty; a JSON object is required.")
    try:
        return safe_json.loads(raw)
    except safe_json.UnsafeJSON as err:
        raise exc.BadRequest(f"Malformed JSON in request body: {err}") from None


def unwrap(body: Any, root: str) -> Any:
    """Take the object under the root key (`{"loadbalancer": {...}}`)."""
    if not isinstance(body, dict) or root not in body:
        raise exc.BadRequest(f"Invalid input: the request body must be an object with key '{root}'.")
    extra = set(body) - {root}
    if extra:
        raise exc.InvalidInput(sorted(extra)[0], body[sorted(extra)[0]], "Unknown attribute.")
    return body[root]


def parse(schema: type[SchemaT], data: Any, field_prefix: str = "") -> SchemaT:
    """Validate `data` against `schema`, raising InvalidInput named after the bad field."""
    if not isinstance(data, dict):
        raise exc.InvalidInput(field_prefix or schema.__name__, data, "Expected an object.")
    try:
        return schema.model_validate(data)
    except ValidationError as err:
        raise invalid_input_from(err, data, field_prefix) from None


def invalid_input_from(err: ValidationError, data: Any, prefix: str = "") -> exc.InvalidInput:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    field = ".".join(([prefix] if prefix else []) + loc) or prefix or "body"
    value = first.get("input")
    reason = first.get("msg", "Invalid value.")
    if first.get("type") == "extra_forbidden":
        reason = "Unknown attribute."
    elif first.get("type") == "missing":
        reason = "Mandatory field missing."
        value = None
    elif first.get("type") == "literal_error":
        reason = f"Value should be one of: {first.get('ctx', {}).get('expected', '')}"
    if isinstance(value, dict | list):
        value = json.dumps(value)[:200]
    return exc.InvalidInput(field, value, _clean_reason(reason))


def _clean_reason(reason: str) -> str:
    reason = reason.replace("Value error, ", "")
    return reason if reason.endswith(".") else reason + "."
