"""The offline Trivy DB: the bbolt writer's format, and the REAL Trivy binary reading it.

The format tests read files back with a small independent reader written from bbolt's page
layout; the Trivy tests are the real acceptance check (Trivy opens the file with bbolt itself).
"""

from __future__ import annotations

import random
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.support import docker as docker_support
from tests.support.trivy import run_trivy, vulnerabilities
from tools.trivydb import FIXTURES_DIR, FixtureError, build_db, load_fixtures
from tools.trivydb.__main__ import main as trivydb_main
from tools.trivydb.bbolt import (
    BRANCH_ELEMENT,
    BUCKET_HEADER,
    LEAF_ELEMENT,
    MAGIC,
    META,
    PAGE_HEADER,
    fnv1a64,
    write_bolt,
)

# requirements.txt pins of examples' vulnerable service (and the brief's list) -> what Trivy
# must report: (package as written, id, severity, fixed version).
VULNERABLE_PINS = "".join(
    f"{pin}\n"
    for pin in (
        "PyJWT==2.3.0", "Werkzeug==2.2.2", "PyYAML==5.3.1",
        "requests==2.19.1", "Jinja2==2.10", "urllib3==1.24.1",
    )
)  # fmt: skip
EXPECTED_PIP = {
    ("PyJWT", "CVE-2022-29217", "HIGH", "2.4.0"),
    ("Werkzeug", "CVE-2023-25577", "HIGH", "2.2.3"),
    ("Werkzeug", "CVE-2023-23934", "LOW", "2.2.3"),
    ("Werkzeug", "CVE-2024-34069", "HIGH", "3.0.3"),
    ("PyYAML", "CVE-2020-14343", "CRITICAL", "5.4"),
    ("requests", "CVE-2018-18074", "HIGH", "2.20.0"),
    ("requests", "CVE-2023-32681", "MEDIUM", "2.31.0"),
    ("Jinja2", "CVE-2019-10906", "HIGH", "2.10.1"),
    ("urllib3", "CVE-2019-11324", "HIGH", "1.24.2"),
}
# Current releases (what the clean example service pins): nothing may be reported for them.
CLEAN_PINS = (
    "flask==3.1.3\nwerkzeug==3.1.9\npyjwt==2.15.1\nargon2-cffi==25.1.0\ngunicorn==27.0.1\n"
    "jinja2==3.1.6\nrequests==2.32.5\nurllib3==2.5.0\npyyaml==6.0.3\n"
)
# Debian 12 advisories Trivy must report for the debootstrapped base image: id -> (severity,
# status). CVE-2023-4911 is in the DB as fixed in 2.36-9+deb12u3 and must NOT be reported.
EXPECTED_DEBIAN = {
    "CVE-2011-3374": ("LOW", "affected"),
    "CVE-2010-4756": ("LOW", "affected"),
    "CVE-2016-2781": ("LOW", "will_not_fix"),
    "CVE-2021-45346": ("LOW", "affected"),
    "CVE-2023-4039": ("MEDIUM", "affected"),
}


def pip_findings(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {
        (v["PkgName"], v["VulnerabilityID"], v["Severity"], v.get("FixedVersion", ""))
        for v in vulnerabilities(report)
    }


# --- an independent bbolt reader (page layout of go.etcd.io/bbolt) -----------------------------


def read_bolt(path: Path) -> tuple[dict[bytes, Any], dict[str, int]]:
    """Parse a bbolt file into nested dicts, checking what bbolt relies on while reading."""
    data = path.read_bytes()
    page_size = struct.unpack_from("<I", data, PAGE_HEADER.size + 8)[0]
    metas = []
    for pgid in (0, 1):
        start = pgid * page_size + PAGE_HEADER.size
        body = data[start : start + META.size]
        (checksum,) = struct.unpack_from("<Q", data, start + META.size)
        assert checksum == fnv1a64(body), f"meta page {pgid}: checksum mismatch"
        magic, version, psize, _, root, _, freelist, high_water, txid = META.unpack(body)
        assert (magic, version, psize) == (MAGIC, 2, page_size)
        metas.append({"root": root, "freelist": freelist, "pgid": high_water, "txid": txid})
    meta = max(metas, key=lambda m: m["txid"])
    assert len(data) == meta["pgid"] * page_size, "file size must equal high-water pgid pages"
    stats = {"branch_pages": 0, "overflow_pages": 0, "inline_buckets": 0}

    def node(buf: bytes, offset: int, expect_id: int | None) -> dict[bytes, Any]:
        pgid, flags, count, overflow = PAGE_HEADER.unpack_from(buf, offset)
        if expect_id is not None:
            assert pgid == expect_id, f"page {expect_id} says it is page {pgid}"
        stats["overflow_pages"] += overflow
        out: dict[bytes, Any] = {}
        keys: list[bytes] = []
        for i in range(count):
            at = offset + PAGE_HEADER.size + i * LEAF_ELEMENT.size
            if flags == 0x01:
                pos, ksize, child = BRANCH_ELEMENT.unpack_from(buf, at)
                key = buf[at + pos : at + pos + ksize]
                sub = node(data, child * page_size, child)
                assert not sub or min(sub) == key, "branch key must be its child's first key"
                out.update(sub)
            else:
                assert flags == 0x02, f"page {pgid}: unexpected flags {flags:#x}"
                eflags, pos, ksize, vsize = LEAF_ELEMENT.unpack_from(buf, at)
                key = buf[at + pos : at + pos + ksize]
                value = buf[at + pos + ksize : at + pos + ksize + vsize]
                out[key] = bucket(value) if eflags & 0x01 else value
            keys.append(key)
        assert keys == sorted(keys), f"page {pgid}: keys out of order"
        stats["branch_pages"] += flags == 0x01
        return out

    def bucket(value: bytes) -> dict[bytes, Any]:
        root, _ = BUCKET_HEADER.unpack_from(value)
        if root == 0:
            stats["inline_buckets"] += 1
            return node(value[BUCKET_HEADER.size :], 0, None)
        return node(data, root * page_size, root)

    return node(data, meta["root"] * page_size, meta["root"]), stats


def random_tree(rng: random.Random, depth: int = 0) -> dict[bytes, Any]:
    tree: dict[bytes, Any] = {}
    for i in range(rng.choice([0, 1, 3, 40, 300]) if depth else 6):
        key = f"k{rng.randrange(10**6):06d}-{i}".encode()
        if depth == 0 or (depth < 2 and rng.random() < 0.3):
            tree[key] = random_tree(rng, depth + 1)
        else:  # from empty to several pages long (overflow pages), mostly small
            size = rng.choices([0, 5, 40, 300, 3000, 9000], weights=[5, 30, 30, 20, 3, 2])[0]
            tree[key] = rng.randbytes(size)
    return tree


# --- format ------------------------------------------------------------------------------------


def test_fnv1a64_matches_reference_vectors() -> None:
    """bbolt's meta checksum is hash/fnv New64a; these are FNV-1a 64 published test vectors."""
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def test_meta_pages_carry_checksum_over_first_56_bytes(tmp_path: Path) -> None:
    db = build_db(tmp_path)
    data = db.read_bytes()
    for pgid in (0, 1):
        meta = data[pgid * 4096 + 16 : pgid * 4096 + 16 + 64]
        assert struct.unpack_from("<I", meta)[0] == MAGIC
        assert struct.unpack_from("<Q", meta, 56)[0] == fnv1a64(meta[:56]) != 0
    flipped = bytearray(data)
    flipped[16 + 20] ^= 0xFF  # corrupt meta 0's root pgid: its checksum must no longer match
    assert fnv1a64(bytes(flipped[16:72])) != struct.unpack_from("<Q", flipped, 72)[0]


@pytest.mark.parametrize(
    ("page_size", "inline"), [(4096, True), (4096, False), (1024, True), (512, False)]
)
def test_writer_round_trips_random_trees(tmp_path: Path, page_size: int, inline: bool) -> None:
    rng = random.Random(page_size * 2 + inline)
    tree = random_tree(rng)
    tree[b"empty"] = {}
    path = tmp_path / "t.db"
    write_bolt(path, tree, page_size=page_size, inline=inline)
    back, stats = read_bolt(path)
    assert back == tree
    assert stats["branch_pages"] > 0 and stats["overflow_pages"] > 0
    assert (stats["inline_buckets"] > 0) == inline


def test_writer_rejects_top_level_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be a bucket"):
        write_bolt(tmp_path / "t.db", {b"k": b"v"})


def test_fixture_db_has_trivy_layout(tmp_path: Path) -> None:
    tree, _ = read_bolt(build_db(tmp_path))
    pip = tree[b"pip::GitHub Security Advisory pip"]
    assert set(pip) == {b"jinja2", b"pyjwt", b"pyyaml", b"requests", b"urllib3", b"werkzeug"}
    assert b'"PatchedVersions":["2.4.0"]' in pip[b"pyjwt"][b"CVE-2022-29217"]
    assert b'"Status":2' in tree[b"debian 12"][b"glibc"][b"CVE-2010-4756"]
    assert set(tree[b"data-source"]) == {b"debian 12", b"pip::GitHub Security Advisory pip"}
    ids = {i for b in (pip, tree[b"debian 12"]) for pkg in b.values() for i in pkg}
    assert ids == set(tree[b"vulnerability"])  # every advisory has its details


def test_build_db_is_cached_and_rebuilds_when_fixtures_change(tmp_path: Path) -> None:
    fixtures = shutil.copytree(FIXTURES_DIR, tmp_path / "fixtures")
    db = build_db(tmp_path / "cache", fixtures)
    first = db.stat().st_mtime_ns, db.stat().st_ino
    assert build_db(tmp_path / "cache", fixtures) == db
    assert (db.stat().st_mtime_ns, db.stat().st_ino) == first
    pip_yaml = fixtures / "pip.yaml"
    text = pip_yaml.read_text()
    pip_yaml.write_text(text.replace('PatchedVersions: ["2.4.0"]', 'PatchedVersions: ["2.4.1"]'))
    build_db(tmp_path / "cache", fixtures)
    assert db.stat().st_ino != first[1]
    assert b'"2.4.1"' in db.read_bytes()


def test_broken_fixture_fails_closed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "fixtures"
    bad.mkdir()
    (bad / "x.yaml").write_text(
        "bucket: debian 12\ndata-source: {ID: debian}\n"
        "advisories:\n  - {id: CVE-2000-0001, package: zlib, advisory: {Status: 2}}\n"
    )
    with pytest.raises(FixtureError, match="no `vulnerability:` details for CVE-2000-0001"):
        load_fixtures(bad)
    (bad / "x.yaml").write_text(
        "bucket: debian 12\nadvisories:\n  - {id: X, package: z, advisory: {Status: 9}}\n"
    )
    with pytest.raises(FixtureError, match="Status must be an integer 0..7"):
        load_fixtures(bad)
    assert trivydb_main(["--cache-dir", str(tmp_path / "c")]) == 0  # the real fixtures build
    assert "--skip-db-update" in capsys.readouterr().out


# --- the real Trivy --------------------------------------------------------------------------


def test_trivy_fs_finds_the_vulnerable_pins(trivy: Any, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(VULNERABLE_PINS)
    report = trivy("fs", tmp_path)
    assert pip_findings(report) == EXPECTED_PIP
    found = {v["VulnerabilityID"]: v for v in vulnerabilities(report)}
    pyjwt = found["CVE-2022-29217"]
    assert pyjwt["VendorIDs"] == ["GHSA-ffqj-6fqr-9h24"]
    assert pyjwt["SeveritySource"] == "ghsa"
    assert pyjwt["DataSource"]["ID"] == "ghsa"
    vector = "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N"
    assert pyjwt["CVSS"]["nvd"] == {"V3Vector": vector, "V3Score": 7.4}
    assert pyjwt["Title"] == "Key confusion through non-blocklisted public key formats"


def test_trivy_fs_finds_nothing_in_current_releases(trivy: Any, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(CLEAN_PINS)
    report = trivy("fs", tmp_path)
    assert [r["Target"] for r in report["Results"]] == ["requirements.txt"]  # it was scanned
    assert list(vulnerabilities(report)) == []


@pytest.mark.parametrize(("page_size", "inline"), [(4096, False), (512, True)])
def test_trivy_reads_deep_trees(tmp_path: Path, page_size: int, inline: bool) -> None:
    """Thousands of extra packages force multi-level branch pages in the pip bucket.

    The filler advisories exist only in this temporary DB (ids SCANGATE-TEST-*).
    """
    tree = load_fixtures()
    pip = tree[b"pip::GitHub Security Advisory pip"]
    advisory = b'{"VulnerableVersions":["<2.0"],"PatchedVersions":["2.0"]}'
    for n in range(3000):
        vuln_id = f"SCANGATE-TEST-{n:04d}".encode()
        pip[f"filler-{n:04d}".encode()] = {vuln_id: advisory}
        tree[b"vulnerability"][vuln_id] = b'{"Severity":"LOW","Title":"filler"}'
    cache = tmp_path / "cache"
    build_db(cache)  # metadata.json + a DB, then replaced by the big one
    write_bolt(cache / "db" / "trivy.db", tree, page_size=page_size, inline=inline)
    _, stats = read_bolt(cache / "db" / "trivy.db")
    assert stats["branch_pages"] >= 2  # the pip bucket and the vulnerability bucket branch
    (tmp_path / "src").mkdir()
    requirements = VULNERABLE_PINS + "filler-2999==1.5\nfiller-0000==2.0\n"  # 0000 is fixed
    (tmp_path / "src" / "requirements.txt").write_text(requirements)
    report = run_trivy("fs", tmp_path / "src", cache_dir=cache)
    filler = ("filler-2999", "SCANGATE-TEST-2999", "LOW", "2.0")
    assert pip_findings(report) == EXPECTED_PIP | {filler}


@pytest.fixture(scope="session")
def base_image_tar(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return docker_support.save_image(docker_engine, tmp_path_factory.mktemp("base") / "base.tar")


@pytest.mark.docker
def test_trivy_image_finds_debian_advisories(trivy: Any, base_image_tar: Path) -> None:
    report = trivy("image", "--input", base_image_tar)
    assert report["Metadata"]["OS"]["Family"] == "debian"
    assert report["Metadata"]["OS"]["Name"].startswith("12.")
    found = list(vulnerabilities(report))
    assert {v["VulnerabilityID"]: (v["Severity"], v["Status"]) for v in found} == EXPECTED_DEBIAN
    packages = {v["PkgName"] for v in found}
    assert {"apt", "libc6", "coreutils", "libsqlite3-0", "libgcc-s1"} <= packages
    assert all(v["DataSource"]["ID"] == "debian" and not v.get("FixedVersion") for v in found)
