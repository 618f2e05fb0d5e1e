"""Caches a branch can write never decide a protected pipeline (issue 18, section 4).

GitLab separates protected from unprotected caches by default, but every unprotected branch
shares one cache per key, and a pipeline a Maintainer starts on any branch writes the protected
one (GitLab docs, "Caching in GitLab CI/CD", cache key names; gitlab-org/gitlab MR 86876,
issues 330047, 585606). A DB seeded there with an advisory removed and a far NextUpdate would be
trusted by every later gate on that key. So the scan job's cache is keyed per ref, holds only
Trivy's DB directories (never a layer cache), and whatever it restores is verified by
`scangate scan` (`--db-digest` pins the DB; otherwise `--fresh-db` drops it and Trivy downloads
one; tests/gate cover both against the real Trivy)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from tests.gitlab import glci
from tests.gitlab.test_gitlab_rules import jobs_of, run_job_script, write_fake_scangate

DIGEST = "sha256:" + "ab" * 32


def expand(text: str, variables: dict[str, str]) -> str:
    """`$NAME` expansion as GitLab does it for `cache:key` (predefined variables)."""
    return re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), ""), text)


def scan_cache(inputs: dict[str, Any]) -> dict[str, Any]:
    cache: dict[str, Any] = jobs_of(inputs)["scangate-scan"]["cache"]
    return cache


def test_one_cache_per_ref() -> None:
    """A merge request's or branch's pipeline writes only its own ref's key: another ref's gate
    never restores what it wrote. (`CI_COMMIT_REF_SLUG`: the branch or tag name, lowercased,
    at most 63 characters, everything but 0-9 and a-z replaced by `-`; GitLab docs, "Predefined
    CI/CD variables".)"""
    key = scan_cache({})["key"]
    main = expand(key, {"CI_COMMIT_REF_SLUG": "main"})
    feature = expand(key, {"CI_COMMIT_REF_SLUG": "feature-x"})
    assert main != feature
    assert main == "scangate-trivy-0.75.0-main"
    fallbacks = scan_cache({})["fallback_keys"]
    assert [expand(k, {"CI_DEFAULT_BRANCH": "main"}) for k in fallbacks] == [main]


def test_the_cache_keys_are_keys_gitlab_accepts() -> None:
    """GitLab CI YAML reference, `cache:key`: a key cannot contain `/` (or `%2F`) and cannot be
    only `.` characters (or `%2E`); `cache:fallback_keys` takes a few keys (5 at most)."""
    cache = scan_cache({"trivy-version": "0.75.0"})
    keys = [cache["key"], *cache["fallback_keys"]]
    assert len(cache["fallback_keys"]) <= 5
    for key in keys:
        assert "/" not in key and "%2F" not in key.upper(), key
        assert key.strip(".") != "", key


def test_only_the_db_directories_are_cached_never_a_layer_cache() -> None:
    """The cache holds Trivy's vulnerability DB only: no Java DB (scangate scan deletes a cached
    one before every scan: it cannot be verified), no layer cache (`fanal`), no report, no
    decision. `scangate scan` keeps Trivy's layer analyses in memory
    (`--cache-backend memory`, scripts/scangate/trivy_command.py), so nothing another image
    left behind can stand in for this image's layers."""
    assert scan_cache({})["paths"] == [".trivy-cache/db/"]
    for _, job in jobs_of({"push": True}).items():
        for path in (job.get("cache") or {}).get("paths") or []:
            assert "fanal" not in path and "scangate-out" not in path, path
    command = (glci.REPO_ROOT / "scripts" / "scangate" / "trivy_command.py").read_text(
        encoding="utf-8")
    assert '"--cache-backend", "memory"' in command


def run_scan_job(tmp_path: Path, inputs: dict[str, Any],
                 ) -> tuple[int, str, list[list[str]]]:
    """The scan job's script with the scangate double of test_gitlab_rules (its install-tool
    prints a path; what is tested is the job's choice of arguments)."""
    job = glci.merged_job(jobs_of(inputs), "scangate-scan")
    job["variables"]["SCANGATE_SOURCE"] = ""
    out = tmp_path / "scangate-out" / "scangate"
    out.mkdir(parents=True)
    (out / "image.tar.gz").write_bytes(b"an archive")
    write_fake_scangate(tmp_path / "bin", 0, writes_summary=False)
    env = {"SCANGATE_IMAGE_ID": "sha256:" + "1" * 64,
           "SCANGATE_IMAGE_ARCHIVE_SHA256": hashlib.sha256(b"an archive").hexdigest()}
    result = run_job_script(job, tmp_path, tmp_path / "bin", env)
    argv = tmp_path / "args.argv"
    calls = [line.split("\037")[:-1] for line in
             (argv.read_text(encoding="utf-8").splitlines() if argv.exists() else [])]
    return result.returncode, result.stderr, [c for c in calls if c and c[0] == "scan"]


@pytest.mark.parametrize("inputs, expected", [
    ({}, ["--fresh-db"]),
    ({"trivy-db-digest": DIGEST}, ["--db-digest", DIGEST]),
    ({"trivy-db-digest": DIGEST, "trivy-skip-db-update": True},
     ["--skip-db-update", "--db-digest", DIGEST]),
])
def test_every_restored_db_is_verified(tmp_path: Path, inputs: dict[str, Any],
                                       expected: list[str]) -> None:
    """Pinned (`--db-digest`: any other DB is refused, before and after Trivy reads it) or
    dropped and downloaded afresh (`--fresh-db`); the calls parse with scangate's real parser."""
    from scangate._cli import build_parser

    code, stderr, calls = run_scan_job(tmp_path, inputs)
    assert code == 0, stderr
    [call] = calls
    tail = call[call.index("--scanners") + 2:]
    tail = [arg for arg in tail if arg not in ("--timeout", "15m")]
    assert tail == expected
    build_parser().parse_args(call)


def test_an_unpinned_cached_db_is_refused(tmp_path: Path) -> None:
    """`trivy-skip-db-update` without `trivy-db-digest` would trust whatever the cache holds:
    the job fails (exit 2), saying how to pin it, before Trivy runs."""
    code, stderr, calls = run_scan_job(tmp_path, {"trivy-skip-db-update": True})
    assert code == 2
    assert "trivy-db-digest" in stderr and "sha256sum" in stderr
    assert calls == []
