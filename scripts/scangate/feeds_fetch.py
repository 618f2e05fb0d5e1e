"""Downloading the risk feeds into a cache directory (``scangate feeds fetch``).

Neither publisher signs its feed, so what protects the gate is: HTTPS only (plain HTTP only to
this machine, for a local mirror), a size bound, the whole file checked as the gate reads it
(KEV's count, gzip's CRC, every row of EPSS), never replacing a cached feed with an older one (a
replayed or lagging copy), and an atomic rename, so the cache holds either the previous feed or
a complete new one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from scangate import __version__
from scangate.errors import FeedError
from scangate.feeds import (
    EPSS_FILE,
    KEV_FILE,
    MAX_FEED_BYTES,
    load_epss,
    load_kev,
    parse_epss,
    parse_kev,
)
from scangate.outputs.atomic import write_replacing

KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
# FIRST's EPSS data, published by Empirical Security; it redirects to the dated file.
EPSS_URL = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"


@dataclass(frozen=True, slots=True)
class Fetched:
    name: str
    path: str
    sha256: str
    size: int
    published: dt.datetime
    detail: str


def check_url(url: str, flag: str) -> None:
    """HTTPS, or plain HTTP to a loopback address (a mirror on this machine)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).is_loopback:
                return
        if host == "localhost":
            return
    raise FeedError(f"{url}: {flag}: only https:// URLs (or http:// to this machine) are "
                    "fetched: a feed over plain HTTP can be rewritten on the way")


class _Redirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        check_url(newurl, "redirect")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download(url: str, timeout: float, limit: int) -> bytes:
    opener = urllib.request.build_opener(_Redirects)
    # check_url (every caller, and every redirect) allows https and loopback http only.
    request = urllib.request.Request(  # noqa: S310
        url, headers={"User-Agent": f"scangate/{__version__}"})
    try:
        with opener.open(request, timeout=timeout) as response:
            data: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise FeedError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FeedError(f"{url}: cannot download: {reason}") from None
    if len(data) > limit:
        raise FeedError(f"{url}: larger than {limit} bytes: not a published feed")
    return data


def _store(directory: str, name: str, data: bytes) -> str:
    final = os.path.join(directory, name)
    write_replacing(final, data, final, error=FeedError)
    return final


def _cached_date(path: str, load: Callable[[str], Any], attribute: str) -> dt.datetime | None:
    """The date of the feed already cached, or None when there is none (or it is unreadable:
    a broken cache is replaced, never trusted)."""
    if not os.path.isfile(path):
        return None
    try:
        date: dt.datetime = getattr(load(path), attribute)
    except FeedError:
        return None
    return date


STAMP_FILE = "fetched-at"


def fresh_cache(directory: str, max_hours: float, now: dt.datetime) -> bool:
    """Both feeds are in ``directory``, read in full, and were fetched less than ``max_hours``
    ago (by the stamp fetch writes): a pipeline cache kept for a day need not download again.
    The gate still checks each feed's own date against the policy."""
    try:
        with open(os.path.join(directory, STAMP_FILE), encoding="utf-8") as handle:
            stamp = dt.datetime.fromisoformat(handle.read(100).strip())
    except (OSError, ValueError):
        return False
    if stamp.tzinfo is None or not now - dt.timedelta(hours=max_hours) < stamp <= now:
        return False
    try:
        load_kev(os.path.join(directory, KEV_FILE))
        load_epss(os.path.join(directory, EPSS_FILE))
    except FeedError:
        return False
    return True


def fetch(directory: str, kev_url: str = KEV_URL, epss_url: str = EPSS_URL,
          timeout: float = 60.0) -> list[Fetched]:
    check_url(kev_url, "--kev-url")
    check_url(epss_url, "--epss-url")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise FeedError(f"{directory}: cannot create the feeds directory: "
                        f"{exc.strerror or exc}") from None
    # Both are downloaded and checked before either replaces the cache.
    kev_data = _download(kev_url, timeout, MAX_FEED_BYTES)
    kev = parse_kev(kev_data, kev_url)
    epss_data = _download(epss_url, timeout, MAX_FEED_BYTES)
    epss = parse_epss(epss_data, epss_url)
    checks = ((KEV_FILE, kev.released, load_kev, "released", "KEV catalog"),
              (EPSS_FILE, epss.score_date, load_epss, "score_date", "EPSS file"))
    for name, published, load, attribute, what in checks:
        cached = _cached_date(os.path.join(directory, name), load, attribute)
        if cached is not None and published < cached:
            raise FeedError(f"{os.path.join(directory, name)}: the downloaded {what} is dated "
                            f"{published.isoformat()}, older than the cached one "
                            f"({cached.isoformat()}): a replayed or lagging copy; the cache "
                            "was kept")
    fetched = [
        Fetched("kev", _store(directory, KEV_FILE, kev_data),
                hashlib.sha256(kev_data).hexdigest(), len(kev_data), kev.released,
                f"catalogVersion {kev.version}, {len(kev.entries)} vulnerabilities"),
        Fetched("epss", _store(directory, EPSS_FILE, epss_data),
                hashlib.sha256(epss_data).hexdigest(), len(epss_data), epss.score_date,
                f"model {epss.model_version}, {len(epss.scores)} CVEs"),
    ]
    _store(directory, STAMP_FILE, dt.datetime.now(dt.UTC).isoformat().encode())
    return fetched
