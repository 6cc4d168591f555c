"""Wire formats shared by the HTTP backend and the endpoint: DAV multistatus, digests, TPC markers."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

from lake.core.checksums import normalize_adler32
from lake.core.errors import StorageError

DAV = "{DAV:}"
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class DavEntry:
    """One `<response>` of a PROPFIND multistatus."""

    path: str
    size: int
    is_dir: bool
    mtime: float | None


def http_date_to_epoch(value: str | None) -> float | None:
    """RFC 7231 date (Last-Modified, getlastmodified) to epoch seconds; None when absent or garbled."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def parse_multistatus(body: bytes) -> list[DavEntry]:
    """Entries of a DAV multistatus document (paths percent-decoded, without trailing slash)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise StorageError(f"invalid PROPFIND answer: {exc}") from exc
    entries = []
    for response in root.iter(f"{DAV}response"):
        href = response.findtext(f"{DAV}href") or ""
        prop = _ok_prop(response)
        if prop is None:
            continue
        is_dir = prop.find(f"{DAV}resourcetype/{DAV}collection") is not None or (
            prop.findtext(f"{DAV}iscollection") == "1"  # XrdHttp's way of saying it
        )
        length = prop.findtext(f"{DAV}getcontentlength")
        entries.append(
            DavEntry(
                path=unquote(urlsplit(href).path).rstrip("/") or "/",
                size=int(length) if length and not is_dir else 0,
                is_dir=is_dir,
                mtime=http_date_to_epoch(prop.findtext(f"{DAV}getlastmodified")),
            )
        )
    return entries


def _ok_prop(response: ElementTree.Element) -> ElementTree.Element | None:
    """The `<prop>` of the propstat whose status is 2xx (servers add 404 propstats for unknown props)."""
    for propstat in response.iter(f"{DAV}propstat"):
        status = propstat.findtext(f"{DAV}status") or "HTTP/1.1 200 OK"
        if " 2" in status:
            return propstat.find(f"{DAV}prop")
    return None


def parse_digest(header: str, algorithm: str) -> str | None:
    """The hex checksum for `algorithm` from an RFC 3230 `Digest` header.

    adler32 is hex everywhere; md5 is base64 per RFC 3230, but some servers send hex: accept both.
    """
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name.strip().lower() != algorithm:
            continue
        value = value.strip()
        if algorithm == "adler32":
            return normalize_adler32(value)
        if _HEX32.match(value):
            return value.lower()
        try:
            return base64.b64decode(value, validate=True).hex()
        except (binascii.Error, ValueError):
            return None
    return None


def format_digest(algorithm: str, hex_value: str) -> str:
    """One RFC 3230 `Digest` item: adler32 as hex, md5 as base64."""
    if algorithm == "md5":
        return "md5=" + base64.b64encode(bytes.fromhex(hex_value)).decode()
    return f"{algorithm}={hex_value}"


def wanted_digests(header: str | None) -> list[str]:
    """Algorithms named in a `Want-Digest` header (q-values ignored; q=0 excluded), lower-case."""
    if not header:
        return []
    wanted = []
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        if params.replace(" ", "").lower() in ("q=0", "q=0.0"):
            continue
        if name.strip():
            wanted.append(name.strip().lower())
    return wanted


def perf_marker(transferred: int, timestamp: int) -> bytes:
    """One HTTP-TPC performance marker block, as XrdHttpTPC and dCache send them."""
    return (
        f"Perf Marker\nTimestamp: {timestamp}\nStripe Index: 0\n"
        f"Stripe Bytes Transferred: {transferred}\nTotal Stripe Count: 1\nEnd\n"
    ).encode()
