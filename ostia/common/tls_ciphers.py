"""Cipher strings judged by the OpenSSL that haproxy uses, before they are stored.

Octavia keeps TLS 1.2 ciphers and TLS 1.3 suites in one colon-separated string; the
renderer splits it (names starting with `TLS_` are suites) into haproxy's `ciphers` and
`ciphersuites`, which haproxy hands to OpenSSL's `SSL_CTX_set_cipher_list` and
`SSL_CTX_set_ciphersuites`. Python's `ssl` module links the same system libssl as
Debian's haproxy, so its `set_ciphers` is the first call exactly; the second is reached
through ctypes, since `ssl` has no binding for it.

OpenSSL itself ignores an unknown name among known ones; a tenant's typo would then be
stored, rendered and silently dropped, so every plain name must select something on its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import ssl

from ostia.common import limits

# Cipher-string elements that are operators or modifiers rather than names to look up.
_OPERATOR_PREFIXES = ("!", "-", "+", "@")


class UnknownCipher(ValueError):
    """The cipher string names something the OpenSSL in use cannot select."""


def split(ciphers: str) -> tuple[list[str], list[str]]:
    """(TLS 1.2-and-older elements, TLS 1.3 suite names) of an Octavia cipher string."""
    names = [name for name in ciphers.split(":") if name]
    return ([n for n in names if not n.startswith("TLS_")], [n for n in names if n.startswith("TLS_")])


def check_cipher_string(ciphers: str) -> None:
    """UnknownCipher unless haproxy's OpenSSL accepts every part of `ciphers`."""
    if not limits.CIPHER_CHARS.fullmatch(ciphers):
        raise UnknownCipher("tls_ciphers may contain only letters, digits and -+!:@=_.")
    legacy, suites = split(ciphers)
    if not legacy and not suites:
        raise UnknownCipher("tls_ciphers names no cipher")
    unknown = [
        name for name in legacy if not name.startswith(_OPERATOR_PREFIXES) and not _selects_ciphers(name)
    ]
    unknown += [name for name in suites if not _is_tls13_suite(name)]
    if unknown:
        raise UnknownCipher(
            f"OpenSSL ({ssl.OPENSSL_VERSION}) does not know or will not use the ciphers: {', '.join(unknown)}"
        )
    if legacy and not _selects_ciphers(":".join(legacy)):
        raise UnknownCipher(f"the cipher string {':'.join(legacy)} selects no cipher")


# The answers depend only on the string and the process's OpenSSL: remember them (a
# context per name costs ~0.7 ms; the default listener string has twelve names).
@functools.lru_cache(maxsize=1024)
def _selects_ciphers(cipher_list: str) -> bool:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.set_ciphers(cipher_list)
    except ssl.SSLError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def _is_tls13_suite(name: str) -> bool:
    libssl = _libssl()
    if libssl is None:
        # No ctypes access to libssl: fall back on the suites this OpenSSL enables by default.
        return name in {c["name"] for c in ssl.create_default_context().get_ciphers()}
    context = libssl.SSL_CTX_new(libssl.TLS_method())
    if not context:
        raise MemoryError("SSL_CTX_new failed")
    try:
        return bool(libssl.SSL_CTX_set_ciphersuites(context, name.encode("ascii")))
    finally:
        libssl.SSL_CTX_free(context)


@functools.cache
def _libssl() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("ssl")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.TLS_method.restype = ctypes.c_void_p
        lib.TLS_method.argtypes = []
        lib.SSL_CTX_new.restype = ctypes.c_void_p
        lib.SSL_CTX_new.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_set_ciphersuites.restype = ctypes.c_int
        lib.SSL_CTX_set_ciphersuites.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.SSL_CTX_free.restype = None
        lib.SSL_CTX_free.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib
