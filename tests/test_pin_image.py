"""`scangate pin-image`: pin the gated image by digest in Kubernetes manifests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from scangate._cli import main
from scangate.errors import ScangateError
from scangate.k8s_pin import parse_pinned_image, pin_manifests, split_image

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = REPO_ROOT / "templates" / "k8s" / "user-authenticator"
REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/user-authenticator"
DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = f"{REPO}@{DIGEST}"


def _write(path: Path, *documents: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")


def _pod_spec(*images: str, init: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    }
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": image} for i, image in enumerate(init)]
    return spec


def _images(path: Path) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("image"), str):
                found.append(node["image"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        walk(document)
    return found


def test_pins_the_template_deployment_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rendered"
    before = {p.name: p.read_text() for p in TEMPLATE_DIR.glob("*.yaml")}
    code = main(
        ["pin-image", "--manifests", str(TEMPLATE_DIR), "--image", IMAGE, "--output", str(out)]
    )
    assert code == 0
    assert _images(out / "deployment.yaml") == [IMAGE]
    assert sorted(p.name for p in out.glob("*.yaml")) == sorted(before)
    for name, text in before.items():  # sources untouched; other files rendered unchanged
        assert (TEMPLATE_DIR / name).read_text() == text
        if name != "deployment.yaml":
            assert list(yaml.safe_load_all((out / name).read_text())) == list(
                yaml.safe_load_all(text)
            )
    deployment = yaml.safe_load((out / "deployment.yaml").read_text())
    original = yaml.safe_load(before["deployment.yaml"])
    original["spec"]["template"]["spec"]["containers"][0]["image"] = IMAGE
    assert deployment == original
    assert "Deployment/user-authenticator container user-authenticator" in capsys.readouterr().out


def test_pins_every_workload_kind_and_init_containers_and_keeps_others(tmp_path: Path) -> None:
    src = tmp_path / "src"
    other = "docker.io/library/busybox:1.36"
    template = {"spec": _pod_spec(f"{REPO}:prod-1", other, init=(f"{REPO}@sha256:{'f' * 64}",))}
    _write(
        src / "a.yaml",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"template": template},
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {}},
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "ss"},
            "spec": {"template": template},
        },
    )
    _write(
        src / "nested" / "b.yml",
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "cj"},
            "spec": {"jobTemplate": {"spec": {"template": template}}},
        },
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": _pod_spec(REPO)},
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "metadata": {"name": "ds"},
                    "spec": {"template": template},
                },
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": "j"},
                    "spec": {"template": template},
                },
            ],
        },
    )
    (src / "notes.txt").write_text("not a manifest")
    changes = pin_manifests(src, IMAGE, tmp_path / "out")
    assert sorted({(c.kind, c.name) for c in changes}) == [
        ("CronJob", "cj"),
        ("DaemonSet", "ds"),
        ("Deployment", "d"),
        ("Job", "j"),
        ("Pod", "p"),
        ("StatefulSet", "ss"),
    ]
    assert len(changes) == 11  # 5 workloads x (container + init container) + the pod
    assert _images(tmp_path / "out" / "a.yaml") == [IMAGE, other, IMAGE, IMAGE, other, IMAGE]
    assert _images(tmp_path / "out" / "nested" / "b.yml").count(IMAGE) == 7
    assert other in _images(tmp_path / "out" / "nested" / "b.yml")
    assert not (tmp_path / "out" / "notes.txt").exists()


def test_similar_repositories_are_not_pinned(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(
        src / "d.yaml",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": _pod_spec(f"{REPO}-sidecar:1", f"{REPO}/sub:1", REPO),
        },
    )
    pin_manifests(src, IMAGE, tmp_path / "out")
    assert _images(tmp_path / "out" / "d.yaml") == [f"{REPO}-sidecar:1", f"{REPO}/sub:1", IMAGE]


@pytest.mark.parametrize(
    "image",
    [
        REPO,
        f"{REPO}:prod-1",
        f"{REPO}@sha256:abc",
        f"{REPO}@sha256:{'A' * 64}",
        f"{REPO}@sha512:{'a' * 128}",
        f"{REPO}@{DIGEST}x",
        f"UPPER/case@{DIGEST}",
        f"@{DIGEST}",
        "",
    ],
)
def test_refuses_an_image_without_a_valid_sha256_digest(
    tmp_path: Path, image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        ["pin-image", "--manifests", str(TEMPLATE_DIR), "--image", image, "--output", str(out)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("scangate: error: ") and err.count("\n") == 1
    assert not out.exists()


def test_fails_when_no_container_matched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    other = "123456789012.dkr.ecr.us-east-1.amazonaws.com/other@" + DIGEST
    code = main(
        ["pin-image", "--manifests", str(TEMPLATE_DIR), "--image", other, "--output", str(out)]
    )
    assert code == 2
    assert "nothing was pinned" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("problem", ["missing", "empty", "bad-yaml", "same-dir"])
def test_input_problems_are_errors(tmp_path: Path, problem: str) -> None:
    src = tmp_path / "src"
    out = tmp_path / "out"
    if problem == "empty":
        src.mkdir()
    elif problem == "bad-yaml":
        shutil.copytree(TEMPLATE_DIR, src)
        (src / "broken.yaml").write_text("kind: [unclosed\n")
    elif problem == "same-dir":
        shutil.copytree(TEMPLATE_DIR, src)
        out = src
    with pytest.raises(ScangateError) as caught:
        pin_manifests(src, IMAGE, out)
    assert caught.value.exit_code == 2
    if problem == "bad-yaml":
        assert "broken.yaml" in str(caught.value)
        assert not out.exists()


def test_tag_and_digest_image_is_pinned_by_digest_alone() -> None:
    assert parse_pinned_image(f"{REPO}:prod-1@{DIGEST}").reference == IMAGE
    assert parse_pinned_image(f"localhost:5000/app@{DIGEST}").repository == "localhost:5000/app"
    assert split_image("localhost:5000/app") == ("localhost:5000/app", None, None)
    assert split_image("localhost:5000/app:1@sha256:x") == ("localhost:5000/app", "1", "sha256:x")


# --- issue 21 §3: bounded YAML, atomic outputs, no symlinks -------------------------------------

def _deployment(tmp_path: Path) -> Path:
    manifests = tmp_path / "manifests"
    _write(manifests / "deploy.yaml", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": _pod_spec(f"{REPO}:latest")}}})
    return manifests


def test_a_billion_laughs_manifest_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """600 bytes that expand to a million containers (go-yaml, which kubectl reads manifests
    with, refuses such a document as "excessive aliasing")."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    levels = [f"c0: &c0 [{{name: x, image: '{REPO}:1'}}]"]
    for level in range(1, 7):
        levels.append(f"c{level}: &c{level} [" + ", ".join([f"*c{level - 1}"] * 10) + "]")
    text = ("x:\n" + "".join(f"  {line}\n" for line in levels) + "kind: Pod\n"
            "metadata: {name: p}\nspec: {containers: *c6}\n")
    assert len(text.encode()) < 1000
    (manifests / "pod.yaml").write_text(text)
    out = tmp_path / "out"
    code = main(["pin-image", "--manifests", str(manifests), "--image", IMAGE, "--output",
                 str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "anchors and aliases expand" in err and "pod.yaml" in err
    assert not out.exists() or not list(out.rglob("*.yaml"))


def test_modest_anchors_and_merge_keys_are_still_read(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "d.yaml").write_text(
        "common: &env [{name: A, value: '1'}]\n---\n"
        "kind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n"
        f"      containers:\n        - &c {{name: app, image: '{REPO}:1', env: []}}\n"
        "        - {<<: *c, name: side}\n")
    changes = pin_manifests(manifests, IMAGE, tmp_path / "out")
    assert [c.container for c in changes] == ["app", "side"]


def test_outputs_replace_stale_manifests_and_refuse_symlinks(tmp_path: Path) -> None:
    manifests = _deployment(tmp_path)
    out = tmp_path / "out"
    (out / "old").mkdir(parents=True)
    (out / "old" / "gone.yaml").write_text("kind: Pod\n")
    (out / "notes.txt").write_text("kept\n")
    pin_manifests(manifests, IMAGE, out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "deploy.yaml", "notes.txt"]
    assert _images(out / "deploy.yaml") == [IMAGE]
    # A symlink where a manifest goes would write through to its target: refused.
    victim = tmp_path / "victim.yaml"
    victim.write_text("precious\n")
    (out / "deploy.yaml").unlink()
    (out / "deploy.yaml").symlink_to(victim)
    with pytest.raises(ScangateError, match="symbolic link"):
        pin_manifests(manifests, IMAGE, out)
    assert victim.read_text() == "precious\n"
    linked_out = tmp_path / "linked-out"
    linked_out.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ScangateError, match="symbolic link"):
        pin_manifests(manifests, IMAGE, linked_out)
    assert not (tmp_path / "elsewhere").exists()


def test_a_manifest_that_is_a_fifo_or_device_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A FIFO no process writes to is refused after a bounded wait (never read as an empty
    manifest, never a hang) and /dev/zero is not read forever."""
    import os

    from scangate import input_files
    from scangate.input_files import InputFileError, read_input

    monkeypatch.setattr(input_files, "FIFO_WRITER_WAIT_SECONDS", 0.2)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError, match="is a FIFO that no process wrote to"):
        read_input(str(fifo), 1000)
    with pytest.raises(InputFileError, match="a device that gave more than 1000 bytes"):
        read_input("/dev/zero", 1000)
    with pytest.raises(InputFileError, match="is a directory"):
        read_input(str(tmp_path), 1000)
