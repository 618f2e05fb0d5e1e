"""`scangate image record|check`: the image ID and tarball sha256 recorded by the build job are
what the scan and push jobs check (container-scan.yml, container-release.yml), through main()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scangate._cli import main

from tests.github.test_workflow_steps import _docker_archive
from tests.steps.images import read_members, write_tar


def built(tmp_path: Path, layout: str = "oci") -> tuple[Path, str]:
    image_dir = tmp_path / "scangate-image"
    image_dir.mkdir(parents=True)
    image_id = _docker_archive(image_dir / "image.tar", {"os": "linux"}, layout)
    assert main(["image", "record", "--image-dir", str(image_dir), "--name", "api"]) == 0
    return image_dir, image_id


def test_what_is_recorded_is_checked_and_copied(tmp_path: Path) -> None:
    image_dir, image_id = built(tmp_path)
    report = tmp_path / "trivy.json"
    report.write_text(json.dumps({"Metadata": {"ImageID": image_id}}))
    out = tmp_path / "github_output"
    assert main(["image", "check", "--image-dir", str(image_dir), "--report", str(report),
                 "--copy-record", str(tmp_path / "scan"), "--outputs", str(out)]) == 0
    assert json.loads((tmp_path / "scan" / "image.json").read_text())["image-id"] == image_id
    assert f"image-id={image_id}\n" in out.read_text()
    report.write_text(json.dumps({"Metadata": {"ImageID": "sha256:" + "a" * 64}}))
    assert main(["image", "check", "--image-dir", str(image_dir), "--report", str(report)]) == 1


def test_a_changed_tarball_and_a_missing_one(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    image_dir, _ = built(tmp_path)
    with (image_dir / "image.tar").open("ab") as handle:
        handle.write(b"\0" * 512)
    assert main(["image", "check", "--image-dir", str(image_dir)]) == 1
    assert "not the tarball the build job wrote" in capsys.readouterr().err
    assert main(["image", "check", "--image-dir", str(tmp_path / "none"), "--name", "api"]) == 2
    assert "no image tarball for api" in capsys.readouterr().err


def test_a_tarball_of_two_images_is_refused(tmp_path: Path) -> None:
    """manifest.json listing two configs: which one was scanned? Neither is recorded."""
    image_dir, _ = built(tmp_path, "legacy")
    files = read_members(image_dir / "image.tar")
    entries = json.loads(files["manifest.json"])
    files["second.json"] = b'{"os": "linux", "n": 2}'
    entries.append({**entries[0], "Config": "second.json"})
    files["manifest.json"] = json.dumps(entries).encode()
    write_tar(image_dir / "image.tar", files)
    assert main(["image", "record", "--image-dir", str(image_dir), "--name", "api"]) == 2
