"""`scangate push`: real archives, the real registry on 127.0.0.1:5000, the real Docker engine.

Every successful push is checked from outside scangate too: `docker pull` by digest through the
Docker engine must give back the scanned image ID. Only the tests of a LYING registry (and of
ECR's Basic login) use the in-memory double in registry_double.py, since no real registry here
serves a digest other than the one pushed or asks for credentials.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from scangate._cli import main
from scangate.errors import UsageError
from scangate.registry.client import RegistryClient
from scangate.registry.ecr_auth import ecr_credentials
from scangate.registry.errors import RegistryError
from scangate.registry.push import push_and_verify, read_archive
from scangate.registry.reference import check_tag, parse_repository

from tests.steps import images
from tests.steps.registry_double import registry_double
from tests.support import docker as docker_support
from tests.support import reports
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def built(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        images.BuiltImage]:
    workdir = tmp_path_factory.mktemp("push-images")
    image = images.build_scratch_image(workdir, "push", uuid.uuid4().hex[:12])
    yield image
    docker_support.remove_image(image.tag)


@pytest.fixture
def repo(registry: str) -> str:
    return f"{registry}/scangate-tests/push-{uuid.uuid4().hex[:10]}"


COUNTS = {"critical": 0, "high": 0, "medium": 0, "low": 0, "unknown": 0}
PASS = {"decision": "pass", "counts": COUNTS, "violations": []}


def _summary(path: Path, image_id: Any, decision: str = "pass", **extra: Any) -> Path:
    """A summary.json shaped like `scangate gate --json-summary` writes."""
    doc = {"decision": decision, "counts": COUNTS, "violations": [],
           "reports": [{"path": "scan.json", "artifact_type": "container_image",
                        "image_id": image_id, "findings": 0}], **extra}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _push(archive: Path, image_id: str, repo: str, out: Path, *extra: str) -> int:
    return main(["push", "--archive", str(archive), "--image-id", image_id,
                 "--repository", repo, "--tag", "t1", "--output", str(out / "push.json"),
                 *extra])


def _pulled_image_id(reference: str) -> str:
    """The image ID the Docker engine gets when it pulls ``reference`` (independent check)."""
    docker_support.docker(["pull", reference])
    try:
        return docker_support.docker(["image", "inspect", "--format", "{{.Id}}",
                                      reference]).strip()
    finally:
        docker_support.remove_image(reference)


def _registry_digest(repo: str, tag: str) -> str:
    host, _, path = repo.partition("/")
    response = requests.get(
        f"http://{host}/v2/{path}/manifests/{tag}", timeout=10,
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    response.raise_for_status()
    return "sha256:" + hashlib.sha256(response.content).hexdigest()


# -- the push ----------------------------------------------------------------------------------


def test_push_docker_archive_with_tags_and_decision(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = _summary(tmp_path / "summary.json", built.image_id)
    archive_sha = hashlib.sha256(built.archive.read_bytes()).hexdigest()
    code = main(["push", "--archive", str(built.archive), "--image-id", built.image_id,
                 "--archive-sha256", archive_sha, "--repository", repo,
                 "--tag", "prod-abc123", "--tag", "abc123-1-1", "--tag", "prod-abc123",
                 "--decision", str(summary), "--output", str(tmp_path / "push.json"),
                 "--dotenv", str(tmp_path / "push.env")])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads((tmp_path / "push.json").read_text(encoding="utf-8"))
    digest = result["image-digest"]
    assert result["image-uri"] == f"{repo}@{digest}"
    assert result["repository"] == repo
    assert result["tags"] == ["prod-abc123", "abc123-1-1"]
    assert result["image-id"] == built.image_id
    assert result["archive-sha256"] == archive_sha
    # The registry serves that digest under every tag, and Docker pulls the scanned image.
    assert _registry_digest(repo, "prod-abc123") == digest
    assert _registry_digest(repo, "abc123-1-1") == digest
    assert _pulled_image_id(f"{repo}@{digest}") == built.image_id
    env = (tmp_path / "push.env").read_text(encoding="utf-8").splitlines()
    assert f"SCANGATE_IMAGE_URI={repo}@{digest}" in env
    assert f"SCANGATE_IMAGE_ID={built.image_id}" in env
    assert f"image-uri {repo}@{digest}" in out


def test_the_docker_archive_has_a_symlinked_layer(built: images.BuiltImage) -> None:
    """docker save stores a repeated layer as a symlink: the push tests read through one."""
    with tarfile.open(built.archive) as tar:
        assert any(m.issym() and m.name.endswith("/layer.tar") for m in tar.getmembers())


def test_push_again_is_idempotent(built: images.BuiltImage, repo: str, tmp_path: Path) -> None:
    assert _push(built.archive, built.image_id, repo, tmp_path) == 0
    first = json.loads((tmp_path / "push.json").read_text(encoding="utf-8"))
    assert _push(built.archive, built.image_id, repo, tmp_path) == 0
    again = json.loads((tmp_path / "push.json").read_text(encoding="utf-8"))
    assert again["image-digest"] == first["image-digest"]


@pytest.mark.parametrize(
    "layout",
    [
        {"gzip_layers": False, "docker_manifest": True},  # docker save, Docker 25+
        {"gzip_layers": True, "nested_index": True},  # Buildx type=oci (index -> index)
        {"gzip_layers": True, "compress_archive": True},  # OCI layout, gzipped tarball
    ],
    ids=["docker25-save", "buildx-oci", "oci-tar-gz"],
)
def test_push_oci_layouts(
    built: images.BuiltImage, repo: str, tmp_path: Path, layout: dict[str, bool]
) -> None:
    archive = images.to_oci_layout(built.archive, tmp_path / "oci.tar", **layout)
    assert _push(archive, built.image_id, repo, tmp_path) == 0
    result = json.loads((tmp_path / "push.json").read_text(encoding="utf-8"))
    assert _pulled_image_id(result["image-uri"]) == built.image_id


def test_push_picks_the_scanned_image_out_of_a_multi_image_index(
    built: images.BuiltImage, repo: str, tmp_path: Path, docker_engine: str
) -> None:
    """Buildx writes one manifest per platform into one index; the one whose config is the
    scanned image ID is pushed, whichever position it has."""
    second = images.build_scratch_image(tmp_path, "second", uuid.uuid4().hex[:12])
    try:
        archive = images.to_oci_layout(second.archive, tmp_path / "multi.tar", gzip_layers=True,
                                       nested_index=True, also=(built.archive,))
        assert _push(archive, built.image_id, repo, tmp_path) == 0
        result = json.loads((tmp_path / "push.json").read_text(encoding="utf-8"))
        assert _pulled_image_id(result["image-uri"]) == built.image_id
    finally:
        docker_support.remove_image(second.tag)


def test_push_gzipped_docker_archive(built: images.BuiltImage, repo: str, tmp_path: Path) -> None:
    archive = tmp_path / "image.tar.gz"
    archive.write_bytes(gzip.compress(built.archive.read_bytes()))
    assert _push(archive, built.image_id, repo, tmp_path,
                 "--archive-sha256", hashlib.sha256(archive.read_bytes()).hexdigest()) == 0


# -- refusals before anything is pushed --------------------------------------------------------


def _nothing_pushed(repo: str) -> bool:
    host, _, path = repo.partition("/")
    response = requests.get(f"http://{host}/v2/{path}/tags/list", timeout=10)
    return response.status_code == 404


def _refused(capsys: pytest.CaptureFixture[str], code: int, expected_code: int = 2) -> str:
    err = capsys.readouterr().err
    assert code == expected_code, err
    assert err.count("\n") == 1, err  # one line, no traceback
    return err


def test_wrong_image_id_is_refused(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "sha256:" + "ab" * 32
    err = _refused(capsys, _push(built.archive, other, repo, tmp_path))
    assert f"holds {built.image_id}, not --image-id {other}" in err
    assert _nothing_pushed(repo)
    assert not (tmp_path / "push.json").exists()


def test_swapped_config_is_refused(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An archive whose config was replaced (say, to drop a USER line) is another image."""

    def swap(members: dict[str, bytes], entry: dict[str, Any]) -> None:
        config = json.loads(members[str(entry["Config"])])
        config["config"]["User"] = "root"
        members[str(entry["Config"])] = json.dumps(config).encode()

    tampered = images.rewrite_legacy(built.archive, tmp_path / "tampered.tar", swap)
    err = _refused(capsys, _push(tampered, built.image_id, repo, tmp_path))
    assert f"not --image-id {built.image_id}" in err
    assert _nothing_pushed(repo)


def test_swapped_layer_is_refused(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same config (so the same image ID), but a layer replaced after the scan."""

    def swap(members: dict[str, bytes], entry: dict[str, Any]) -> None:
        layers = entry["Layers"]
        assert isinstance(layers, list)
        members[layers[-1]] = images.layer_tar({"srv/b.txt": b"malware\n"})

    tampered = images.rewrite_legacy(built.archive, tmp_path / "tampered.tar", swap)
    err = _refused(capsys, _push(tampered, built.image_id, repo, tmp_path))
    assert "the archive was modified after the image was built" in err
    assert _nothing_pushed(repo)


def test_tampered_oci_blob_is_refused(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = images.to_oci_layout(built.archive, tmp_path / "oci.tar", gzip_layers=True)
    members = images.read_members(layout)
    index = json.loads(members["index.json"])
    manifest_name = "blobs/sha256/" + index["manifests"][0]["digest"].removeprefix("sha256:")
    members[manifest_name] = members[manifest_name].replace(b'"schemaVersion": 2',
                                                            b'"schemaVersion":2')
    tampered = images.write_tar(tmp_path / "tampered.tar", members)
    err = _refused(capsys, _push(tampered, built.image_id, repo, tmp_path))
    assert "does not hash to its name" in err


def test_archive_sha256_mismatch_is_refused(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(capsys, _push(built.archive, built.image_id, repo, tmp_path,
                                 "--archive-sha256", "00" * 32))
    assert "not the archive that was scanned" in err
    assert _nothing_pushed(repo)


@pytest.mark.parametrize("flag", ["--archive-sha256", "--decision"])
def test_an_empty_check_is_an_error_not_a_skipped_check(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    flag: str,
) -> None:
    """`--archive-sha256 "$UNSET_VARIABLE"` must not silently turn the check off."""
    _refused(capsys, _push(built.archive, built.image_id, repo, tmp_path, flag, ""))
    assert _nothing_pushed(repo)


def test_duplicate_entries_are_refused(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two manifest.json entries: readers disagree on which one counts, so neither does."""
    archive = tmp_path / "dup.tar"
    archive.write_bytes(built.archive.read_bytes())
    with tarfile.open(archive, "a") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"[]"))
    err = _refused(capsys, _push(archive, built.image_id, repo, tmp_path))
    assert "several entries named 'manifest.json'" in err


@pytest.mark.parametrize(
    "content",
    [b"", b"not a tar at all", gzip.compress(b"truncated")[:-6], None],
    ids=["empty", "not-tar", "bad-gzip", "not-a-file"],
)
def test_unreadable_archives(
    repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None
) -> None:
    archive = tmp_path / "bad.tar"
    if content is None:
        archive.mkdir()
    else:
        archive.write_bytes(content)
    _refused(capsys, _push(archive, "sha256:" + "ab" * 32, repo, tmp_path))


# -- the recorded decision ---------------------------------------------------------------------


def test_decision_fail_is_refused_with_exit_1(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = _summary(tmp_path / "s.json", built.image_id, decision="fail")
    err = _refused(capsys, _push(built.archive, built.image_id, repo, tmp_path,
                                 "--decision", str(summary)), expected_code=1)
    assert "did not pass" in err
    assert _nothing_pushed(repo)


@pytest.mark.parametrize(
    ("summary", "message"),
    [
        ({**PASS, "reports": [{"image_id": "sha256:" + "cd" * 32}]}, "is about image"),
        ({**PASS, "reports": [{"image_id": None}]}, "records no image id"),
        (PASS, "records no image id"),
        ({**PASS, "reports": [{"image_id": "latest"}]}, "is not sha256"),
        ({"counts": {}}, "counts.critical is missing"),
        ([], "top level is list"),
    ],
    ids=["other-image", "fs-only", "no-id", "bad-id", "not-a-summary", "not-object"],
)
def test_decision_that_does_not_vouch_for_this_image(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    summary: Any, message: str,
) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(summary), encoding="utf-8")
    err = _refused(capsys, _push(built.archive, built.image_id, repo, tmp_path,
                                 "--decision", str(path)))
    assert message in err
    assert _nothing_pushed(repo)


def test_decision_pass_with_a_failing_exit_code_is_refused(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = _summary(tmp_path / "s.json", built.image_id, exit_code=1)
    _refused(capsys, _push(built.archive, built.image_id, repo, tmp_path,
                           "--decision", str(summary)), expected_code=1)


def test_a_real_gate_summary_releases_the_push(
    built: images.BuiltImage, repo: str, tmp_path: Path
) -> None:
    """What `scangate gate --json-summary` writes today is what push accepts."""
    report = reports.image_report([], name=built.tag)
    report["Metadata"]["ImageID"] = built.image_id
    report_path = reports.write(tmp_path / "report.json", report)
    summary = tmp_path / "summary.json"
    assert main(["gate", "--report", report_path, "--json-summary", str(summary),
                 "--quiet"]) == 0
    assert _push(built.archive, built.image_id, repo, tmp_path,
                 "--decision", str(summary)) == 0
    # And a failing gate summary of the same image does not.
    report = reports.image_report([reports.vuln(severity="CRITICAL")], name=built.tag)
    report["Metadata"]["ImageID"] = built.image_id
    reports.write(tmp_path / "report.json", report)
    assert main(["gate", "--report", report_path, "--json-summary", str(summary),
                 "--quiet"]) == 1
    assert _push(built.archive, built.image_id, repo, tmp_path,
                 "--decision", str(summary)) == 1


@pytest.mark.slow
def test_real_trivy_scan_of_the_archive_then_gate_then_push(
    built: images.BuiltImage, repo: str, tmp_path: Path, trivy: Callable[..., dict[str, Any]]
) -> None:
    """The whole chain with the real scanner: Trivy records the archive's image ID in the
    report, the gate carries it into summary.json, push accepts that summary for this archive
    and refuses it for any other image ID."""
    report = trivy("image", "--input", built.archive)
    assert report["Metadata"]["ImageID"] == built.image_id
    report_path = reports.write(tmp_path / "report.json", report)
    summary = tmp_path / "summary.json"
    assert main(["gate", "--report", report_path, "--json-summary", str(summary),
                 "--quiet"]) == 0
    assert _push(built.archive, built.image_id, repo, tmp_path, "--decision", str(summary)) == 0
    other = "sha256:" + "ef" * 32
    assert _push(built.archive, other, repo, tmp_path, "--decision", str(summary)) == 2


# -- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repository", "message"),
    [
        ("http://127.0.0.1:5000/app", "without a scheme"),
        ("app", "name the registry explicitly"),
        ("127.0.0.1:5000/app:latest", "has a tag or digest"),
        ("127.0.0.1:5000/App", "not a repository path"),
    ],
)
def test_bad_repository(
    built: images.BuiltImage, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    repository: str, message: str,
) -> None:
    err = _refused(capsys, _push(built.archive, built.image_id, repository, tmp_path))
    assert message in err


def test_output_may_not_overwrite_an_input(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = _summary(tmp_path / "s.json", built.image_id)
    before = summary.read_bytes()
    code = main(["push", "--archive", str(built.archive), "--image-id", built.image_id,
                 "--repository", repo, "--tag", "t", "--decision", str(summary),
                 "--output", str(summary)])
    _refused(capsys, code)
    assert summary.read_bytes() == before


def test_bad_tag(built: images.BuiltImage, repo: str, tmp_path: Path,
                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["push", "--archive", str(built.archive), "--image-id", built.image_id,
                 "--repository", repo, "--tag", ".bad", "--output", str(tmp_path / "p.json")])
    assert "not a valid tag" in _refused(capsys, code)


def test_a_newline_cannot_hide_in_a_host_or_tag() -> None:
    """A trailing newline passes a '$'-anchored regex; it would reach the registry URL."""
    with pytest.raises(UsageError, match="not a registry host"):
        parse_repository("registry.example\n/app")
    with pytest.raises(UsageError, match="not a valid tag"):
        check_tag("v1\n")


def test_https_is_used_for_every_registry_but_loopback() -> None:
    assert parse_repository("127.0.0.1:5000/a").base_url == "http://127.0.0.1:5000"
    assert parse_repository("localhost:5000/a").base_url == "http://localhost:5000"
    assert parse_repository("[::1]:5000/a").base_url == "http://[::1]:5000"
    assert parse_repository("registry.internal:5000/a").base_url == "https://registry.internal:5000"
    assert parse_repository("127.0.0.1.nip.io/a").base_url == "https://127.0.0.1.nip.io"
    ecr = parse_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app")
    assert ecr.base_url.startswith("https://")
    assert ecr.ecr == ("123456789012", "eu-west-1", "aws")
    dual_stack = parse_repository("123456789012.dkr-ecr.ap-south-1.on.aws/app")
    assert dual_stack.ecr == ("123456789012", "ap-south-1", "aws")
    assert parse_repository("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/a").ecr == (
        "123456789012", "cn-north-1", "aws-cn")
    assert parse_repository("123456789012.dkr-ecr-fips.us-gov-west-1.on.aws/a").ecr == (
        "123456789012", "us-gov-west-1", "aws-us-gov")
    assert parse_repository("123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/a"
                            ).ecr is None


# -- a registry that lies (test double) --------------------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("put-digest", "registry stored"),
        ("manifest-by-digest", "served a manifest hashing to"),
        ("manifest-by-tag", "resolves to"),
        ("lose-tag", "resolves to nothing"),
        ("config", "config blob"),
        ("foreign-location", "the registry sent the upload to http://127.0.0.2"),
    ],
)
def test_a_registry_serving_another_digest_is_refused(
    built: images.BuiltImage, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    tamper: str, message: str,
) -> None:
    with registry_double(tamper={tamper}) as double:
        code = _push(built.archive, built.image_id, f"{double.host}/app", tmp_path)
    err = _refused(capsys, code)
    assert message in err
    assert not (tmp_path / "push.json").exists()


def test_blobs_served_through_a_redirect(built: images.BuiltImage, tmp_path: Path) -> None:
    """ECR answers blob requests with a redirect to S3: a HEAD is not followed (the presigned
    GET would refuse it), a GET is, and the config is still checked against the image ID."""
    with registry_double(tamper={"redirect-blobs"}) as double:
        assert _push(built.archive, built.image_id, f"{double.host}/app", tmp_path) == 0
        followed = [path for method, path, _ in double.requests if path.startswith("/storage/")]
    assert followed == [f"/storage/{built.image_id}"]


def test_a_failed_push_removes_an_old_result(
    built: images.BuiltImage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A push.json from an earlier run must not survive a failed push (deploy would use it)."""
    (tmp_path / "push.json").write_text('{"image-uri": "stale"}', encoding="utf-8")
    with registry_double(tamper={"config"}) as double:
        code = _push(built.archive, built.image_id, f"{double.host}/app", tmp_path)
    _refused(capsys, code)
    assert not (tmp_path / "push.json").exists()


def test_ecr_login_credentials_reach_the_registry(
    built: images.BuiltImage, moto: MotoServer, tmp_path: Path
) -> None:
    """ecr:GetAuthorizationToken through boto3 (moto) gives the Basic credentials the registry
    double demands; without them it answers 401 and the push fails with one line."""
    session = boto3.session.Session(region_name="us-east-1")
    user, password = ecr_credentials(session, "123456789012", "us-east-1")
    assert user == "AWS" and password
    image, blobs, sha = read_archive(built.archive, built.image_id, tmp_path, None)
    with registry_double(basic=(user, password)) as double:
        repository = parse_repository(f"{double.host}/app")
        client = RegistryClient(repository, (user, password))
        result = push_and_verify(client, image, blobs, ["t"], sha, lambda _: None)
        assert result.image_id == built.image_id
        assert all(auth is not None for _, _, auth in double.requests)
        # Monolithic uploads only: ECR answers PATCH with 201 and drops later chunks
        # (aws/containers-roadmap#2831).
        assert "PATCH" not in {method for method, _, _ in double.requests}
        anonymous = RegistryClient(repository)
        with pytest.raises(Exception, match="HTTP 401"):
            push_and_verify(anonymous, image, blobs, ["t"], sha, lambda _: None)


def test_registry_login_with_a_token_service(
    built: images.BuiltImage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Docker Hub, GHCR and GitLab answer 401 with a Bearer challenge; the user and password
    (read from a file) buy a pull+push token for the repository at the token service."""
    password = tmp_path / "password"
    password.write_text("s3cret\n", encoding="utf-8")
    with registry_double(bearer=("ci", "s3cret")) as double:
        code = _push(built.archive, built.image_id, f"{double.host}/app", tmp_path,
                     "--registry-username", "ci", "--registry-password-file", str(password))
        assert code == 0, capsys.readouterr().err
        assert double.token_requests == [{"scope": ["repository:app:pull,push"],
                                          "service": ["double"]}]
        token_free = [r for r in double.requests if r[2] is None and r[1] != "/v2/"]
        assert token_free == []
        # Without credentials, or with wrong ones: one line, nothing pushed.
        assert _push(built.archive, built.image_id, f"{double.host}/other", tmp_path) == 2
        assert "HTTP 401" in capsys.readouterr().err
        password.write_text("wrong\n", encoding="utf-8")
        assert _push(built.archive, built.image_id, f"{double.host}/other", tmp_path,
                     "--registry-username", "ci", "--registry-password-file",
                     str(password)) == 2
        assert f"GET http://{double.host}/token: HTTP 401" in capsys.readouterr().err
        assert not any(p.startswith("/v2/other/") and m == "PUT" for m, p, _ in double.requests)
    assert "s3cret" not in capsys.readouterr().out


def test_gitlab_job_token_from_the_environment_buys_the_token(
    built: images.BuiltImage, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GitLab's push job logs in as CI_REGISTRY_USER with CI_REGISTRY_PASSWORD (the job token),
    read from the environment by name: the value never reaches a command line or a message."""
    monkeypatch.setenv("CI_REGISTRY_PASSWORD", "job-token-1234")
    login = ("--registry-username", "gitlab-ci-token",
             "--registry-password-env", "CI_REGISTRY_PASSWORD")
    with registry_double(bearer=("gitlab-ci-token", "job-token-1234")) as double:
        code = _push(built.archive, built.image_id, f"{double.host}/group/project", tmp_path,
                     *login)
        assert code == 0, capsys.readouterr().err
        assert double.token_requests == [{"scope": ["repository:group/project:pull,push"],
                                          "service": ["double"]}]
        # A wrong token: the token service refuses, nothing is pushed, the token is not shown.
        monkeypatch.setenv("CI_REGISTRY_PASSWORD", "stolen-0000")
        assert _push(built.archive, built.image_id, f"{double.host}/group/other", tmp_path,
                     *login) == 2
        err = capsys.readouterr().err
        assert f"GET http://{double.host}/token: HTTP 401" in err
        assert not any(p.startswith("/v2/group/other/") and m == "PUT"
                       for m, p, _ in double.requests)
    assert "job-token-1234" not in capsys.readouterr().out


@pytest.mark.parametrize(("env", "extra", "message"), [
    ({}, ("--registry-username", "gitlab-ci-token", "--registry-password-env", "NO_SUCH_VAR"),
     "--registry-password-env NO_SUCH_VAR: no such environment variable"),
    ({"EMPTY_PW": ""}, ("--registry-username", "u", "--registry-password-env", "EMPTY_PW"),
     "--registry-password-env EMPTY_PW: must hold exactly one line"),
    ({"TWO_LINES": "a\nb"}, ("--registry-username", "u", "--registry-password-env",
                              "TWO_LINES"),
     "--registry-password-env TWO_LINES: must hold exactly one line"),
    ({"PW": "x"}, ("--registry-username", "", "--registry-password-env", "PW"),
     "--registry-username is empty"),
    ({"PW": "x"}, ("--registry-password-env", "PW"), "go together"),
])
def test_registry_password_env_fails_closed(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], extra: tuple[str, ...], message: str,
) -> None:
    """An unset, empty or multi-line variable, or an empty user (a GitLab project whose registry
    is off has no CI_REGISTRY_USER), is one line and exit 2: never an anonymous push."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    assert message in _refused(capsys, _push(built.archive, built.image_id, repo, tmp_path,
                                             *extra))
    assert not (tmp_path / "push.json").exists()


def test_registry_password_file_and_env_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["push", "--archive", "a.tar", "--image-id", "sha256:" + "0" * 64,
              "--repository", "127.0.0.1:5000/x", "--tag", "t", "--output",
              str(tmp_path / "p.json"), "--registry-username", "u",
              "--registry-password-file", "f", "--registry-password-env", "V"])
    assert exc.value.code == 2


def test_registry_credentials_are_not_for_ecr(
    built: images.BuiltImage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password = tmp_path / "password"
    password.write_text("x\n", encoding="utf-8")
    code = _push(built.archive, built.image_id,
                 "123456789012.dkr.ecr.us-east-1.amazonaws.com/app", tmp_path,
                 "--registry-username", "AWS", "--registry-password-file", str(password))
    assert "logged in to through AWS" in _refused(capsys, code)


def test_role_arn_is_refused_for_a_registry_that_is_not_ecr(
    built: images.BuiltImage, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("eyJ.x.y", encoding="ascii")
    err = _refused(capsys, _push(built.archive, built.image_id, repo, tmp_path,
                                 "--role-arn", "arn:aws:iam::123456789012:role/push",
                                 "--web-identity-token-file", str(token)))
    assert "--role-arn is for ECR registries" in err


def test_ecr_push_assumes_the_role_and_logs_in_through_boto3(
    built: images.BuiltImage, moto: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the CLI: STS and ECR answer (moto, which accepts any token), then the push goes
    to the ECR host over HTTPS, which cannot be reached from here: one line naming it."""
    token = tmp_path / "token"
    token.write_text("eyJ.x.y", encoding="ascii")
    host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    code = _push(built.archive, built.image_id, f"{host}/app", tmp_path,
                 "--role-arn", "arn:aws:iam::123456789012:role/push",
                 "--web-identity-token-file", str(token))
    err = _refused(capsys, code)
    assert f"GET https://{host}/v2/: cannot reach the registry" in err


@pytest.mark.parametrize("realm", ["http://auth.example/token", "ftp://auth.example/t", ""])
def test_credentials_go_to_an_https_token_service_only(realm: str) -> None:
    client = RegistryClient(parse_repository("registry.example/app"), ("ci", "s3cret"))
    with pytest.raises(RegistryError, match="refusing to send credentials"):
        client._token({"realm": realm, "service": "registry"})
