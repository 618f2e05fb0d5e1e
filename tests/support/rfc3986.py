"""RFC 3986 URI and URI-reference syntax, transcribed from the ABNF of its appendix A.

jsonschema checks the ``uri`` and ``uri-reference`` formats only when an optional package is
installed, and passes every string otherwise; the tests register these instead, so format
checking cannot switch itself off. Written independently of scangate's own URI code.
"""

from __future__ import annotations

import re

_UNRESERVED = r"[A-Za-z0-9\-._~]"
_PCT = r"%[0-9A-Fa-f]{2}"
_SUB_DELIMS = r"[!$&'()*+,;=]"
_PCHAR = rf"(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS}|[:@])"
_SEGMENT = rf"{_PCHAR}*"
_SEGMENT_NZ = rf"{_PCHAR}+"
_SEGMENT_NZ_NC = rf"(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS}|@)+"  # no ':' (path-noscheme)
_PATH_ABEMPTY = rf"(?:/{_SEGMENT})*"
_PATH_ABSOLUTE = rf"/(?:{_SEGMENT_NZ}(?:/{_SEGMENT})*)?"
_PATH_NOSCHEME = rf"{_SEGMENT_NZ_NC}(?:/{_SEGMENT})*"
_PATH_ROOTLESS = rf"{_SEGMENT_NZ}(?:/{_SEGMENT})*"
_DEC_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])"
_IPV4 = rf"{_DEC_OCTET}\.{_DEC_OCTET}\.{_DEC_OCTET}\.{_DEC_OCTET}"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{_IPV4})"


def _before(count: int) -> str:
    """``[ *count( h16 ":" ) h16 ]``"""
    return f"(?:(?:{_H16}:){{0,{count}}}{_H16})?"


_IPV6 = "|".join([
    rf"(?:{_H16}:){{6}}{_LS32}",
    rf"::(?:{_H16}:){{5}}{_LS32}",
    rf"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
    rf"{_before(1)}::(?:{_H16}:){{3}}{_LS32}",
    rf"{_before(2)}::(?:{_H16}:){{2}}{_LS32}",
    rf"{_before(3)}::{_H16}:{_LS32}",
    rf"{_before(4)}::{_LS32}",
    rf"{_before(5)}::{_H16}",
    rf"{_before(6)}::",
])
_IPVFUTURE = rf"v[0-9A-Fa-f]+\.(?:{_UNRESERVED}|{_SUB_DELIMS}|:)+"
_HOST = (rf"(?:\[(?:{_IPV6}|{_IPVFUTURE})\]|{_IPV4}"
         rf"|(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS})*)")
_AUTHORITY = rf"(?:(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS}|:)*@)?{_HOST}(?::[0-9]*)?"
_QUERY = rf"(?:{_PCHAR}|[/?])*"
_TAIL = rf"(?:\?{_QUERY})?(?:#{_QUERY})?"
_SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"

URI = re.compile(
    rf"{_SCHEME}:(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_ROOTLESS}|){_TAIL}"
)
RELATIVE_REF = re.compile(
    rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_NOSCHEME}|){_TAIL}"
)


def is_uri(value: object) -> bool:
    return not isinstance(value, str) or URI.fullmatch(value) is not None


def is_uri_reference(value: object) -> bool:
    return not isinstance(value, str) or (
        URI.fullmatch(value) is not None or RELATIVE_REF.fullmatch(value) is not None)


def is_relative_path_reference(value: str) -> bool:
    """A relative reference with no authority and no leading '/': a path inside the checkout."""
    return (RELATIVE_REF.fullmatch(value) is not None and not value.startswith("/")
            and "?" not in value and "#" not in value)
