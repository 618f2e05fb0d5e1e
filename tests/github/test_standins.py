"""The act stand-ins refuse what GitHub refuses and produce what real runners produce.

A stand-in that accepts more than the real action lets an act run pass for the wrong reason.
Sources of each rule: ../shared/notes/platform-rules.md (github/codeql-action upload-lib.ts:
schema validation with format errors only logged, unique tool/category per file and per job;
"Uploading a SARIF file to GitHub": Code Security required on private repositories) and
platform-limits.md (10 MB gzip, 20 runs, 25,000 results per run); Docker 25+ and Buildx write an
OCI image layout for `docker save` and `type=docker`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.github.actrun import STANDINS

VALIDATE = STANDINS / "github" / "codeql-action" / "upload-sarif" / "validate.py"
OCI_LAYOUT = STANDINS / "docker" / "build-push-action" / "oci_layout.py"
SHARED_SCHEMA = Path(__file__).resolve().parents[2].parent / "shared" / "schemas" / (
    "sarif-schema-2.1.0.json"
)


def _sarif(*categories: str, results: int = 1) -> dict[str, Any]:
    runs = []
    for category in categories:
        runs.append({
            "tool": {"driver": {"name": "scangate", "rules": [
                {"id": "CVE-1", "shortDescription": {"text": "x"}}]}},
            "automationDetails": {"id": category},
            "results": [{"ruleId": "CVE-1", "message": {"text": "x"}}] * results,
        })  # fmt: skip
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": runs}


def _upload(tmp_path: Path, sarif: dict[str, Any], job: str = "gate:1",
            **env: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{len(list(tmp_path.glob('*.sarif')))}.sarif"
    path.write_text(json.dumps(sarif), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(VALIDATE), str(path), job, str(tmp_path)],
        env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_a_valid_upload_is_accepted(tmp_path: Path) -> None:
    proc = _upload(tmp_path, _sarif("scangate-api/", "scangate-worker/"))
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [({"SCANGATE_STANDIN_CODE_SECURITY": "disabled"}, "Code Security must be enabled"),
     ({"SCANGATE_STANDIN_TOKEN": "read-only"}, "Resource not accessible by integration")],
)  # fmt: skip
def test_a_repository_that_cannot_take_it_refuses(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    proc = _upload(tmp_path, _sarif("scangate-api/"), **env)
    assert proc.returncode == 1 and message in proc.stdout


def test_duplicate_categories_are_refused_in_a_file_and_in_a_job(tmp_path: Path) -> None:
    assert _upload(tmp_path, _sarif("c/", "c/")).returncode == 1
    assert _upload(tmp_path, _sarif("d/"), job="gate:1").returncode == 0
    assert _upload(tmp_path, _sarif("d/"), job="gate:1").returncode == 1
    assert _upload(tmp_path, _sarif("d/"), job="gate:2").returncode == 0  # another matrix leg


def test_limits_are_enforced(tmp_path: Path) -> None:
    assert _upload(tmp_path, _sarif(*[f"c{i}/" for i in range(21)])).returncode == 1
    assert _upload(tmp_path, _sarif("big/", results=25001)).returncode == 1
    bad = _sarif("v/")
    bad["version"] = "2.0.0"
    assert _upload(tmp_path, bad).returncode == 1


@pytest.mark.skipif(not SHARED_SCHEMA.exists(), reason="../shared SARIF schema absent")
def test_schema_errors_are_refused_and_format_errors_are_not(tmp_path: Path) -> None:
    env = {"SCANGATE_STANDIN_SARIF_SCHEMA": str(SHARED_SCHEMA)}
    assert _upload(tmp_path, _sarif("ok/"), **env).returncode == 0
    broken = _sarif("broken/")
    broken["runs"][0]["results"][0]["message"] = "not an object"
    assert _upload(tmp_path, broken, **env).returncode == 1


def _legacy_tar(path: Path) -> str:
    """A docker-archive as Docker 20 writes it; returns the image ID."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as inner:
        data = b"hello\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        inner.addfile(info, io.BytesIO(data))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{config_hex}.json", "RepoTags": ["x/y:z"],
                            "Layers": ["abc/layer.tar"]}]).encode()
    with tarfile.open(path, "w") as tar:
        for name, blob in ((f"{config_hex}.json", config), ("abc/layer.tar", layer_bytes),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return f"sha256:{config_hex}"


def test_the_build_stand_in_writes_an_oci_layout(tmp_path: Path) -> None:
    image_id = _legacy_tar(tmp_path / "legacy.tar")
    out = subprocess.run(
        [sys.executable, str(OCI_LAYOUT), str(tmp_path / "legacy.tar"), str(tmp_path / "oci.tar"),
         "x/y:z"], capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert out == image_id
    with tarfile.open(tmp_path / "oci.tar") as tar:
        names = set(tar.getnames())
        assert {"oci-layout", "index.json", "manifest.json"} <= names

        def read(name: str) -> bytes:
            handle = tar.extractfile(name)
            assert handle is not None
            return handle.read()

        index = json.loads(read("index.json"))
        manifest_digest = index["manifests"][0]["digest"]
        manifest_bytes = read(f"blobs/sha256/{manifest_digest.removeprefix('sha256:')}")
        assert "sha256:" + hashlib.sha256(manifest_bytes).hexdigest() == manifest_digest
        manifest = json.loads(manifest_bytes)
        assert manifest["config"]["digest"] == image_id
        for blob in [manifest["config"], *manifest["layers"]]:
            data = read(f"blobs/sha256/{blob['digest'].removeprefix('sha256:')}")
            assert "sha256:" + hashlib.sha256(data).hexdigest() == blob["digest"]
            assert len(data) == blob["size"]
        assert json.loads(read("manifest.json"))[0]["Config"] == (
            f"blobs/sha256/{image_id.removeprefix('sha256:')}"
        )
