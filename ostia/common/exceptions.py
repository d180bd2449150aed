"""Errors with a meaning. The API's error layer maps each to its HTTP code once."""

from __future__ import annotations


class OstiaError(Exception):
    """Base of every error Ostia raises on purpose."""


class APIError(OstiaError):
    """An error a caller of the v2 API sees as `{"faultcode", "faultstring", "debuginfo"}`."""

    code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(APIError):
    """A field with a wrong type, a bad enum value, an unknown attribute."""

    code = 400

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"Invalid input for field/attribute {field}. Value: '{value}'. {reason}")
        self.field = field


class ValidationFailure(APIError):
    code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(f"Validation failure: {detail}")


class BadRequest(APIError):
    """A 400 whose message stands as it is."""

    code = 400


class InvalidOption(BadRequest):
    def __init__(self, value: str, option: str) -> None:
        super().__init__(f"{value} is not a valid option for {option}")


class DisabledOption(BadRequest):
    def __init__(self, option: str, value: object) -> None:
        super().__init__(f"The selected {option} is not allowed in this deployment: {value}")


class NotFound(APIError):
    code = 404

    def __init__(self, resource: str, ident: object) -> None:
        super().__init__(f"{resource} {ident} not found.")


class NotAcceptable(APIError):
    code = 406


class Conflict(APIError):
    code = 409


class ImmutableObject(Conflict):
    def __init__(self, resource: str, ident: object) -> None:
        super().__init__(f"{resource} {ident} is immutable and cannot be updated.")


class InvalidState(Conflict):
    def __init__(self, status: str, ident: object) -> None:
        super().__init__(f"Invalid state {status} of loadbalancer resource {ident}")


class InUse(Conflict):
    def __init__(self, resource: str, ident: object) -> None:
        super().__init__(f"{resource} {ident} is in use and cannot be modified.")


class Forbidden(APIError):
    code = 403


class PolicyForbidden(Forbidden):
    def __init__(self) -> None:
        super().__init__("Policy does not allow this request to be performed.")


class QuotaExceeded(Forbidden):
    def __init__(self, resource: str) -> None:
        super().__init__(f"Quota has been met for resources: {resource}")


class Unauthorized(APIError):
    code = 401

    def __init__(self, message: str, authenticate: str | None = None) -> None:
        super().__init__(message)
        self.authenticate = authenticate  # the WWW-Authenticate challenge, if any


class RequestTooLarge(APIError):
    code = 413


class ProviderNotEnabled(BadRequest):
    def __init__(self, provider: str) -> None:
        super().__init__(f"Provider '{provider}' is not enabled.")


class ProviderUnsupported(APIError):
    code = 501

    def __init__(self, provider: str, what: str) -> None:
        super().__init__(f"Provider '{provider}' does not support a requested option: {what}")


class ServiceUnavailable(APIError):
    code = 503


class DriverError(OstiaError):
    """A compute, network or amphora driver failed; the worker retries or marks ERROR."""


class AmphoraUnreachable(DriverError):
    """The amphora agent did not answer within the configured retries."""


class AgentError(DriverError):
    """The amphora agent answered a call with an error status."""

    status_code = 500

    def __init__(
        self,
        message: str,
        details: object = None,
        status_code: int | None = None,
    ) -> None:
        text = message if details in (None, "") else f"{message}: {details}"
        super().__init__(text)
        self.message = message
        self.details = details
        if status_code is not None:
            self.status_code = status_code


class AgentInvalidRequest(AgentError):
    status_code = 400


class AgentUnauthorized(AgentError):
    status_code = 401


class AgentForbidden(AgentError):
    status_code = 403


class AgentNotFound(AgentError):
    status_code = 404


class AgentConflict(AgentError):
    status_code = 409


class AgentInternalError(AgentError):
    status_code = 500


class AgentNotImplemented(AgentError):
    """The call exists but this amphora cannot do it (VRRP on a local amphora)."""

    status_code = 501


class AgentUnavailable(AgentError):
    status_code = 503


class CertificateError(DriverError):
    """A TLS container or certificate problem in a certificate manager or generator."""


class CertificateNotFound(CertificateError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"Certificate container {ref} not found.")
        self.ref = ref


class InvalidCertificate(CertificateError):
    """The stored or given certificate, key, intermediates or passphrase do not load."""


class AgentCertificateRefused(AmphoraUnreachable):
    """The agent's server certificate is not signed by server_ca or does not name the
    amphora: retrying cannot help."""
