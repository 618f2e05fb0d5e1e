"""`scangate push --decision`: only a summary recording "pass" (exit code 0) for THIS image, and
for no other image besides it, releases the push. Everything else is refused and nothing is
pushed (the real registry on 127.0.0.1:5000 is asked afterwards).

The gate writes decision "pass" or "fail" and an integer exit_code
(scangate.outputs.summary); a pipeline that carries on after a failed gate, or a summary
edited or mixed with another image's, must not release anything.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from scangate._cli import main

from tests.steps import images
from tests.support import docker as docker_support

pytestmark = pytest.mark.docker

OTHER = "sha256:" + "cd" * 32
THIS = "this image"  # replaced by the built image's id


@pytest.fixture(scope="module")
def built(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        images.BuiltImage]:
    workdir = tmp_path_factory.mktemp("push-decision")
    image = images.build_scratch_image(workdir, "decision", uuid.uuid4().hex[:12])
    yield image
    docker_support.remove_image(image.tag)


def _report(image_id: Any) -> dict[str, Any]:
    return {"path": "scan.json", "artifact_type": "container_image", "image_id": image_id,
            "findings": 0}


def _summary(decision: Any = "pass", exit_code: Any = 0,
             image_ids: tuple[Any, ...] = (THIS,)) -> dict[str, Any]:
    counts = dict.fromkeys(("critical", "high", "medium", "low", "unknown"), 0)
    return {"decision": decision, "exit_code": exit_code, "counts": counts, "violations": [],
            "reports": [_report(i) for i in image_ids]}


def _nothing_pushed(repo: str) -> bool:
    host, _, path = repo.partition("/")
    return requests.get(f"http://{host}/v2/{path}/tags/list", timeout=10).status_code == 404


def _with_id(value: Any, image_id: str) -> Any:
    if isinstance(value, dict):
        return {k: _with_id(v, image_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_id(v, image_id) for v in value]
    return image_id if value == THIS else value


def _push(built: images.BuiltImage, registry: str, tmp_path: Path,
          summary: dict[str, Any]) -> tuple[int, str]:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(_with_id(summary, built.image_id)), encoding="utf-8")
    repo = f"{registry}/scangate-tests/decision-{uuid.uuid4().hex[:10]}"
    code = main(["push", "--archive", str(built.archive), "--image-id", built.image_id,
                 "--repository", repo, "--tag", "t1", "--output", str(tmp_path / "push.json"),
                 "--decision", str(path)])
    return code, repo


@pytest.mark.parametrize(("summary", "code", "message"), [
    (_summary(decision="warn"), 1, "the gate decided 'warn'"),
    (_summary(decision="fail"), 1, "the gate decided 'fail'"),
    (_summary(decision="PASS"), 1, "the gate decided 'PASS'"),
    (_summary(decision="pass "), 1, "the gate decided 'pass '"),
    (_summary(decision=True), 1, "the gate decided True"),
    (_summary(decision=None), 1, "the gate decided None"),
    (_summary(exit_code=1), 1, "exit code 1"),
    (_summary(exit_code="0"), 1, "exit code '0'"),
    (_summary(exit_code=False), 1, "exit code False"),
    (_summary(exit_code=0.0), 1, "exit code 0.0"),
    (_summary(image_ids=(THIS, OTHER)), 2, f"is about image {OTHER}"),
    (_summary(image_ids=(OTHER, THIS)), 2, f"is about image {OTHER}"),
    (_summary(image_ids=(None, THIS, OTHER)), 2, f"is about image {OTHER}"),
    (_summary(image_ids=(OTHER,)), 2, f"is about image {OTHER}"),
], ids=["warn", "fail", "PASS", "pass-space", "true", "null", "exit-1", "exit-text",
        "exit-false", "exit-float", "this-and-other", "other-and-this", "fs-this-other",
        "other-only"])
def test_a_summary_that_does_not_release_this_image_refuses_the_push(
    built: images.BuiltImage, registry: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], summary: dict[str, Any], code: int, message: str,
) -> None:
    capsys.readouterr()
    got, repo = _push(built, registry, tmp_path, summary)
    err = capsys.readouterr().err
    assert got == code, err
    assert err.count("\n") == 1 and message in err, err
    assert _nothing_pushed(repo)
    assert not (tmp_path / "push.json").exists()


@pytest.mark.parametrize("summary", [_summary(), _summary(image_ids=(None, THIS, THIS))],
                         ids=["one-report", "fs-report-and-two-of-this-image"])
def test_a_pass_for_this_image_alone_releases_the_push(
    built: images.BuiltImage, registry: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], summary: dict[str, Any],
) -> None:
    got, repo = _push(built, registry, tmp_path, summary)
    assert got == 0, capsys.readouterr().err
    assert not _nothing_pushed(repo)
    assert json.loads((tmp_path / "push.json").read_text())["image-id"] == built.image_id
