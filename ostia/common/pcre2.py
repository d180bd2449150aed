"""L7 rule regexes compiled by the PCRE2 library that haproxy itself links.

Python's `re` and PCRE2 disagree at the edges (`\\N{...}` and `\\u` escapes, back-references
to groups haproxy compiles without capturing...), so a regex the API checked with `re`
could still make `haproxy -c` refuse the whole load balancer's configuration. The check
here makes the same calls haproxy 2.6 makes for an ACL `-m reg` pattern: `pcre2_compile`
without auto-capture (plus caseless for `-i`), then `pcre2_jit_compile`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# pcre2.h
_CASELESS = 0x00000008
_NO_AUTO_CAPTURE = 0x00002000
_JIT_COMPLETE = 0x00000001
_ERROR_JIT_BADOPTION = -45
_LIBRARY = "pcre2-8"


class InvalidRegex(ValueError):
    """PCRE2 refuses the pattern; the message is PCRE2's, with the offset."""


class PCRE2Unavailable(RuntimeError):
    """libpcre2-8 (a dependency of haproxy) cannot be loaded."""


def check_regex(pattern: str, caseless: bool = False) -> None:
    """InvalidRegex unless haproxy's PCRE2 compiles `pattern` as an ACL regex."""
    lib = _library()
    try:
        raw = pattern.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRegex("the pattern is not valid Unicode") from None
    errorcode = ctypes.c_int(0)
    erroroffset = ctypes.c_size_t(0)
    options = _NO_AUTO_CAPTURE | (_CASELESS if caseless else 0)
    code = lib.pcre2_compile_8(
        raw, len(raw), options, ctypes.byref(errorcode), ctypes.byref(erroroffset), None
    )
    if not code:
        raise InvalidRegex(f"{_message(lib, errorcode.value)} at offset {erroroffset.value}")
    try:
        jit = lib.pcre2_jit_compile_8(code, _JIT_COMPLETE)
        if jit < 0 and jit != _ERROR_JIT_BADOPTION:
            raise InvalidRegex(f"JIT compilation failed: {_message(lib, jit)}")
    finally:
        lib.pcre2_code_free_8(code)


def _message(lib: ctypes.CDLL, errorcode: int) -> str:
    buffer = ctypes.create_string_buffer(256)
    if lib.pcre2_get_error_message_8(errorcode, buffer, len(buffer)) < 0:
        return f"PCRE2 error {errorcode}"
    return buffer.value.decode("utf-8", "replace")


@functools.cache
def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library(_LIBRARY) or "libpcre2-8.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError as err:
        raise PCRE2Unavailable(f"cannot load {name} ({err}); install Debian's libpcre2-8-0") from None
    lib.pcre2_compile_8.restype = ctypes.c_void_p
    lib.pcre2_compile_8.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint32,
        ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.c_void_p,
    ]
    lib.pcre2_jit_compile_8.restype = ctypes.c_int
    lib.pcre2_jit_compile_8.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.pcre2_code_free_8.restype = None
    lib.pcre2_code_free_8.argtypes = [ctypes.c_void_p]
    lib.pcre2_get_error_message_8.restype = ctypes.c_int
    lib.pcre2_get_error_message_8.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
    return lib
