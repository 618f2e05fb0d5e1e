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


def scan_call(tmp_path: Path, inputs: dict[str, Any]) -> tuple[int, str, list[str]]:
    """The scan job's script with the scangate double of test_gitlab_rules (its install-tool
    prints a path), then its `scangate --inputs-from-env=gitlab scan` call as the real CLI
    expands it with the job's variables (scangate/env_inputs.py)."""
    from scangate._cli import build_parser
    from scangate.env_inputs import argv_with_env_inputs

    job = glci.merged_job(jobs_of(inputs), "scangate-scan")
    job["variables"]["SCANGATE_SOURCE"] = ""
    out = tmp_path / "scangate-out" / "scangate"
    out.mkdir(parents=True)
    (out / "image.tar").write_bytes(b"an archive")
    write_fake_scangate(tmp_path / "bin", 0, writes_summary=False)
    env = {"SCANGATE_IMAGE_ID": "sha256:" + "1" * 64,
           "SCANGATE_IMAGE_ARCHIVE_SHA256": hashlib.sha256(b"an archive").hexdigest()}
    result = run_job_script(job, tmp_path, tmp_path / "bin", env)
    calls = [line.split("\037")[:-1] for line in
             (tmp_path / "args.argv").read_text(encoding="utf-8").splitlines()]
    [call] = [c for c in calls if c[:2] == ["--inputs-from-env=gitlab", "scan"]]
    argv = call[1:]
    return (result.returncode, result.stderr,
            argv_with_env_inputs(build_parser(argv), argv, job["variables"], "gitlab"))


def cache_with_a_db(tmp_path: Path) -> tuple[str, str]:
    """A cache as a restore leaves it: a DB whose digest is the second value."""
    (tmp_path / "cache" / "db").mkdir(parents=True)
    (tmp_path / "cache" / "db" / "trivy.db").write_bytes(b"a restored DB")
    return str(tmp_path / "cache"), "sha256:" + hashlib.sha256(b"a restored DB").hexdigest()


@pytest.mark.parametrize("inputs, outcome", [
    ({}, "dropped"),
    ({"trivy-db-digest": "restored"}, "kept"),
    ({"trivy-db-digest": "restored", "trivy-skip-db-update": True}, "kept"),
    ({"trivy-db-digest": DIGEST}, "refused"),
    ({"trivy-db-digest": DIGEST, "trivy-skip-db-update": True}, "refused"),
    ({"trivy-skip-db-update": True}, "refused"),  # unpinned: whoever wrote the cache decides
])
def test_every_restored_db_is_verified(tmp_path: Path, inputs: dict[str, Any],
                                       outcome: str) -> None:
    """Pinned (`--db-digest`: any other DB is refused, before and after Trivy reads it) or
    dropped and downloaded afresh (`--fresh-db-unless-pinned`); `trivy-skip-db-update` without
    a pin would trust whatever the cache holds and is refused, saying how to pin it. The job's
    call is judged by the real `scangate scan` DB check (scan._prepare_db) on a restored cache;
    tests/gate/test_trivy_db.py runs it with the real Trivy."""
    from scangate._cli import build_parser
    from scangate.commands import scan
    from scangate.errors import ScangateError

    cache, restored = cache_with_a_db(tmp_path)
    if inputs.get("trivy-db-digest") == "restored":
        inputs = {**inputs, "trivy-db-digest": restored}
    code, stderr, argv = scan_call(tmp_path, inputs)
    assert code == 0, stderr
    args = build_parser(argv).parse_args(argv)
    try:
        kept = scan._prepare_db(args, cache)
    except ScangateError as exc:
        assert outcome == "refused", exc.message
        assert ("--db-digest" in exc.message and "sha256sum" in exc.message) or \
            DIGEST in exc.message, exc.message
        return
    assert outcome == ("kept" if kept else "dropped")
    assert (tmp_path / "cache" / "db" / "trivy.db").exists() == kept


def test_the_scan_checks_the_build_jobs_tarball_and_image(tmp_path: Path) -> None:
    """The scan job hands the build job's dotenv identity to `scangate scan` (--input-sha256:
    another file is refused before Trivy reads it; --image-id: a report of another image is
    never written; tests/gate/test_scan.py runs both with the real Trivy)."""
    from scangate._cli import build_parser

    code, stderr, argv = scan_call(tmp_path, {})
    assert code == 0, stderr
    args = build_parser(argv).parse_args(argv)
    assert args.input == "scangate-out/scangate/image.tar"
    assert args.input_sha256 == hashlib.sha256(b"an archive").hexdigest()
    assert args.image_id == "sha256:" + "1" * 64
