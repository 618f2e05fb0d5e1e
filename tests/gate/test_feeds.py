"""Reading the risk feeds: what the publishers' formats hold is read in full, and anything a
poisoned cache, a cut download or a stale mirror could produce is an error, never a smaller feed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from pathlib import Path

import pytest
from scangate.errors import FeedError
from scangate.feeds import check_age, load_epss, load_kev, parse_epss, parse_kev

from tests.support.feeds import epss_text, kev_doc, kev_entry, now, write_epss, write_kev


def test_kev_catalog_is_read_with_due_date_and_ransomware(tmp_path: Path) -> None:
    path = write_kev(tmp_path / "kev.json", [
        kev_entry("CVE-2021-44228", due="2021-12-24", ransomware="Known"),
        kev_entry("CVE-2016-2781", due="2026-01-01"),
    ], version="2026.12.06")
    catalog = load_kev(str(path))
    assert catalog.version == "2026.12.06"
    assert catalog.entries["CVE-2021-44228"].due_date == "2021-12-24"
    assert catalog.entries["CVE-2021-44228"].ransomware_known
    assert not catalog.entries["CVE-2016-2781"].ransomware_known
    assert catalog.released.tzinfo is not None


def _kev_bytes(**changes: object) -> bytes:
    doc = kev_doc([kev_entry("CVE-2021-44228"), kev_entry("CVE-2023-4911")])
    doc.update(changes)
    return json.dumps(doc).encode()


# Ids name the expected message: the feeds carry today's date, and parallel workers
# (pytest-xdist) must collect the same test ids.
@pytest.mark.parametrize(("data", "message"), [
    (b"", "not JSON"),
    (b'{"catalogVersion": "1", "dateReleased": "2026', "not JSON"),
    (b"[]", "not an object"),
    (_kev_bytes(count=3), "count is 3 but it lists 2"),
    (_kev_bytes(count="2"), "count is '2'"),
    (_kev_bytes(catalogVersion=""), "catalogVersion"),
    (_kev_bytes(dateReleased="yesterday"), "dateReleased"),
    (_kev_bytes(vulnerabilities=[], count=0), "vulnerabilities is missing, empty"),
    (_kev_bytes(vulnerabilities=[kev_entry("CVE-1")], count=1), "not a CVE id"),
    (_kev_bytes(vulnerabilities=[{**kev_entry("CVE-2021-44228"), "dueDate": "soon"}], count=1),
     "dueDate"),
    (_kev_bytes(vulnerabilities=[{**kev_entry("CVE-2021-44228"),
                                  "knownRansomwareCampaignUse": "Maybe"}], count=1),
     "knownRansomwareCampaignUse"),
    (_kev_bytes(vulnerabilities=[kev_entry("CVE-2021-44228")] * 2, count=2), "listed twice"),
], ids=lambda value: value if isinstance(value, str) else "kev")
def test_malformed_kev_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_kev(data, "kev.json")
    assert message in caught.value.message
    assert caught.value.message.startswith("kev.json")


def test_epss_is_read_plain_and_gzipped(tmp_path: Path) -> None:
    rows = [("CVE-2021-44228", 0.94358, 0.99957), ("CVE-2016-2781", 0.00042, 0.05)]
    for gzipped in (False, True):
        feed = load_epss(str(write_epss(tmp_path / f"e{gzipped}.csv", rows, gzipped=gzipped,
                                        model="v2025.03.14")))
        assert feed.model_version == "v2025.03.14"
        assert feed.scores["CVE-2021-44228"].score == pytest.approx(0.94358)
        assert feed.scores["CVE-2016-2781"].percentile == pytest.approx(0.05)


GOOD = epss_text([("CVE-2021-44228", 0.9, 0.99), ("CVE-2023-4911", 0.5, 0.9)])


@pytest.mark.parametrize(("text", "message"), [
    (GOOD.rstrip("\n"), "last line is incomplete"),
    (GOOD.replace("#model_version", "#model"), "line 1"),
    (GOOD.replace("cve,epss,percentile", "cve,score,percentile"), "line 2"),
    ("\n".join(GOOD.splitlines()[:2]) + "\n", "scores no CVE"),
    (GOOD + "CVE-2024-1,0.1\n", "line 5 is not"),
    (GOOD + "GHSA-xxxx,0.1,0.2\n", "line 5 is not"),
    (GOOD + "CVE-2024-0001,nan,0.2\n", "not between 0 and 1"),
    (GOOD + "CVE-2024-0001,1.5,0.2\n", "not between 0 and 1"),
    (GOOD + "CVE-2024-0001,0.1,high\n", "not a number"),
    (GOOD + "CVE-2021-44228,0.1,0.2\n", "scored twice"),
], ids=lambda value: "epss" if value.startswith("#") or "\n" in value else value)
def test_malformed_epss_is_refused(text: str, message: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_epss(text.encode(), "epss.csv")
    assert message in caught.value.message


def test_truncated_gzip_is_refused() -> None:
    packed = gzip.compress(GOOD.encode() * 50)
    with pytest.raises(FeedError, match="truncated|corrupt"):
        parse_epss(packed[: len(packed) // 2], "epss.csv.gz")
    with pytest.raises(FeedError, match="corrupt"):
        parse_epss(packed[:10] + b"\x00" * 40 + packed[50:], "epss.csv.gz")


def test_missing_and_empty_feed_files(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="not found.*feeds fetch"):
        load_kev(str(tmp_path / "absent.json"))
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(FeedError, match="empty"):
        load_epss(str(tmp_path / "empty.csv"))


def test_age_limit_and_future_dates() -> None:
    current = now()
    check_age("KEV catalog", "k", current - dt.timedelta(days=6, hours=23), 7, current)
    with pytest.raises(FeedError, match="8 days old; the policy allows 7"):
        check_age("KEV catalog", "k", current - dt.timedelta(days=8), 7, current)
    with pytest.raises(FeedError, match="in the future"):
        check_age("EPSS file", "e", current + dt.timedelta(days=2), 3, current)


def test_a_fifo_named_as_a_feed_is_refused_not_waited_on_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Feeds are read by the shared bounded reader (input_files), like policies and reports."""
    from scangate import input_files

    monkeypatch.setattr(input_files, "FIFO_WRITER_WAIT_SECONDS", 0.2)
    fifo = tmp_path / "kev.json"
    os.mkfifo(fifo)
    with pytest.raises(FeedError, match="cannot read the KEV catalog: is a FIFO"):
        load_kev(str(fifo))
