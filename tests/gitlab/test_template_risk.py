"""The template's SBOM, risk feeds and OpenVEX steps (issue 23): thin calls of scangate, and
the rules of GitLab they rely on."""

from __future__ import annotations

from tests.gitlab import glci
from tests.gitlab.test_template import jobs_by_suffix

OUT = "scangate-out/scangate"


def test_the_scan_publishes_the_sbom_of_the_same_scan_as_the_dependency_list() -> None:
    """artifacts:reports:cyclonedx feeds GitLab's dependency list; GitLab's own analyzers name
    these files gl-sbom-*.cdx.json (gitlab-org/gitlab#360766, the report type's design)."""
    jobs = jobs_by_suffix(glci.rendered_jobs({}))
    scan = jobs["scan"]
    sbom = f"{OUT}/gl-sbom-image.cdx.json"
    assert scan["artifacts"]["reports"]["cyclonedx"] == sbom
    assert sbom in scan["artifacts"]["paths"]
    script = "\n".join(glci.script_lines(scan))
    # One scan: the SBOM is an output of the `scangate scan` that writes the report (and
    # removes a report or SBOM an earlier run left: scan.py, tests/gate/test_scan.py).
    assert script.count("scangate --inputs-from-env=gitlab scan ") == 1
    assert '--sbom "$SCANGATE_OUT/gl-sbom-image.cdx.json"' in script


def test_the_gate_reads_freshly_fetched_feeds_never_a_shared_cache() -> None:
    """GitLab shares one cache per key among all unprotected branches (platform-rules.md:
    "Caching in GitLab CI/CD", MR 86876): the report job keeps no feeds cache."""
    jobs = jobs_by_suffix(glci.rendered_jobs({}))
    report = jobs["report"]
    assert "cache" not in report
    script = "\n".join(glci.script_lines(report))
    # gate-job fetches into a directory of its own, made fresh for the job, and gates on it
    # (tests/gate/test_gate_job.py, test_gitlab_fetches_the_feeds_fresh).
    assert "gate-job run --platform gitlab --fetch-feeds" in script
    assert "--feeds-dir" not in script and "--max-cache-age" not in script


def test_the_push_writes_openvex_for_the_pushed_digest() -> None:
    jobs = jobs_by_suffix(glci.rendered_jobs({}))
    push = jobs["push"]
    script = "\n".join(glci.script_lines(push))
    assert '--openvex "$SCANGATE_OUT/scangate.openvex.json"' in script
    assert "scangate --inputs-from-env=gitlab push " in script
    assert f"{OUT}/scangate.openvex.json" in push["artifacts"]["paths"]
