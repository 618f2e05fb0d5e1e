"""`scangate feeds fetch` against a loopback HTTP server serving feeds built in the publishers'
formats (nothing is downloaded from the internet): what is stored, and every refusal that keeps
the cache as it was."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from scangate._cli import main
from scangate.feeds import EPSS_FILE, KEV_FILE, load_epss, load_kev

from tests.support.feeds import epss_text, kev_doc, kev_entry, now

KEV = json.dumps(kev_doc([kev_entry("CVE-2021-44228", ransomware="Known")])).encode()
EPSS = gzip.compress(epss_text([("CVE-2021-44228", 0.94, 0.999)]).encode())


def serve(server: HTTPServer, kev: bytes = KEV, epss: bytes = EPSS) -> list[str]:
    server.clear()
    server.expect_request("/kev.json").respond_with_data(kev, content_type="application/json")
    server.expect_request("/epss.csv.gz").respond_with_data(epss)
    return ["--kev-url", server.url_for("/kev.json"), "--epss-url", server.url_for("/epss.csv.gz")]


def fetch(tmp_path: Path, urls: list[str]) -> int:
    return main(["feeds", "fetch", "--dir", str(tmp_path / "feeds"), *urls, "--timeout", "10"])


def test_fetch_stores_both_feeds_the_gate_reads(httpserver: HTTPServer, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert fetch(tmp_path, serve(httpserver)) == 0
    feeds = tmp_path / "feeds"
    assert (feeds / KEV_FILE).read_bytes() == KEV
    assert load_kev(str(feeds / KEV_FILE)).entries["CVE-2021-44228"].ransomware_known
    assert load_epss(str(feeds / EPSS_FILE)).scores["CVE-2021-44228"].score == 0.94
    err = capsys.readouterr().err
    assert "1 vulnerabilities" in err and "sha256" in err


@pytest.mark.parametrize("which", ["kev", "epss"])
def test_a_broken_download_keeps_the_cache(httpserver: HTTPServer, tmp_path: Path,
                                           which: str) -> None:
    assert fetch(tmp_path, serve(httpserver)) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "feeds").iterdir()}
    broken = {"kev": dict(kev=KEV[:-30]), "epss": dict(epss=EPSS[:-10])}[which]
    assert fetch(tmp_path, serve(httpserver, **broken)) == 2
    assert {p.name: p.read_bytes() for p in (tmp_path / "feeds").iterdir()} == before


def test_an_older_feed_never_replaces_a_newer_one(httpserver: HTTPServer, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert fetch(tmp_path, serve(httpserver)) == 0
    old = json.dumps(kev_doc([kev_entry("CVE-2021-44228")],
                             released=now() - dt.timedelta(days=3))).encode()
    assert fetch(tmp_path, serve(httpserver, kev=old)) == 2
    assert "older than the cached one" in capsys.readouterr().err
    assert (tmp_path / "feeds" / KEV_FILE).read_bytes() == KEV


def test_http_errors_and_plain_http_elsewhere(httpserver: HTTPServer, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    httpserver.expect_request("/gone").respond_with_data("no", status=404)
    assert fetch(tmp_path, ["--kev-url", httpserver.url_for("/gone")]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    # Refused before any connection: plain HTTP to anything but this machine.
    assert fetch(tmp_path, ["--epss-url", "http://feeds.example.invalid/e.csv.gz"]) == 2
    assert "only https://" in capsys.readouterr().err


def test_a_redirect_to_plain_http_elsewhere_is_refused(httpserver: HTTPServer, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    httpserver.expect_request("/kev.json").respond_with_data(
        "", status=302, headers={"Location": "http://mirror.example.invalid/kev.json"})
    assert fetch(tmp_path, ["--kev-url", httpserver.url_for("/kev.json")]) == 2
    assert "redirect: only https://" in capsys.readouterr().err


def test_a_fresh_cache_is_kept_and_a_stale_or_broken_one_fetched(
        httpserver: HTTPServer, tmp_path: Path) -> None:
    urls = serve(httpserver)
    assert fetch(tmp_path, urls) == 0
    served = len(httpserver.log)
    assert fetch(tmp_path, [*urls, "--max-cache-age", "24"]) == 0
    assert len(httpserver.log) == served  # nothing downloaded
    stamp = tmp_path / "feeds" / "fetched-at"
    stamp.write_text((now() - dt.timedelta(hours=25)).isoformat())
    assert fetch(tmp_path, [*urls, "--max-cache-age", "24"]) == 0
    assert len(httpserver.log) == served + 2
    (tmp_path / "feeds" / EPSS_FILE).write_bytes(EPSS[:-5])  # a cache someone cut
    served = len(httpserver.log)
    assert fetch(tmp_path, [*urls, "--max-cache-age", "24"]) == 0
    assert len(httpserver.log) == served + 2
    assert (tmp_path / "feeds" / EPSS_FILE).read_bytes() == EPSS
    stamp.write_text((now() + dt.timedelta(hours=2)).isoformat())  # a stamp from the future
    served = len(httpserver.log)
    assert fetch(tmp_path, [*urls, "--max-cache-age", "24"]) == 0
    assert len(httpserver.log) == served + 2
