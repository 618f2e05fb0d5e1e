"""No inline ignore token hides a misconfiguration, in any form Trivy obeys (issue 21 §1).

Trivy's IaC ignore parser (aquasecurity/trivy pkg/iac/ignore/parse.go) splits each line on
spaces, strips leading `#`, `/` and `*` from each part and obeys any `trivy:ignore:ID` or
`tfsec:ignore:ID` part, for that line and the next: no comment marker is needed, text may come
first, and the file type and size do not matter. Each form below is shown with the real Trivy
binary: the control (no token) has the finding, the token (accepted with
--allow-inline-ignores) makes Trivy drop it, and `scangate scan` refuses it by default, naming
the file and line, with no report left behind.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from scangate._cli import main
from scangate.inline_ignores import (
    UnreadableError,
    find_in_stream,
    find_inline_ignore,
    find_inline_ignore_in_image,
)

from tests.steps.images import layer_tar, one_layer_archive
from tests.support.trivy import trivy_binary

DOCKERFILE = 'FROM debian:latest\nRUN apt-get update\nCMD ["bash"]\n'
TF_JSON = """{
  "resource": {
    "aws_s3_bucket": {
%s      "b": {
        "bucket": "x"
      }
    }
  }
}
"""
CFN = """AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Bucket:%s
    Type: AWS::S3::Bucket
"""
HCL = '%sresource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n'
# Over 16 MiB of comment lines before the Dockerfile's instructions.
BIG_PADDING = ("# " + "x" * 78 + "\n") * (17 * 1024 * 1024 // 81 + 1)
BIG_PADDING_LINES = BIG_PADDING.count("\n")

# form -> (file name, clean content, content with the token, finding the token hides, line)
FORMS = {
    "text before the token": (
        "Dockerfile", DOCKERFILE,
        'FROM debian:latest\n# see trivy:ignore:*\nRUN apt-get update\nCMD ["bash"]\n',
        "DS-0017", 2),
    "RUN echo in a Dockerfile": (
        "Dockerfile", DOCKERFILE,
        'FROM debian:latest\nRUN echo trivy:ignore:*\nRUN apt-get update\nCMD ["bash"]\n',
        "DS-0017", 2),
    "a // key in .tf.json": (
        "main.tf.json", TF_JSON % "", TF_JSON % '      "//": " trivy:ignore:* ",\n',
        "AWS-0086", 4),
    "after a CloudFormation key": (
        "template.yaml", CFN % "", CFN % " # see trivy:ignore:*", "AWS-0086", 3),
    # The form issue 25's mutation 5 removes from the defused set: it must stay refused.
    "/* trivy:ignore */ in Terraform": (
        "main.tf", HCL % "", HCL % "/* trivy:ignore:* */\n", "AWS-0086", 1),
    "a file over 16 MiB": (
        "Dockerfile", BIG_PADDING + DOCKERFILE,
        BIG_PADDING + "# see trivy:ignore:*\n" + DOCKERFILE, "DS-0001",
        BIG_PADDING_LINES + 1),
}


def _scan(*args: str, cache: Path) -> int:
    return main(["scan", *args, "--output", str(cache.parent / "r.json"), "--cache-dir",
                 str(cache), "--skip-db-update", "--offline-scan", "--trivy", trivy_binary(),
                 "--scanners", "misconfig"])


@pytest.fixture()
def cache(trivy_cache_dir: Path, tmp_path: Path) -> Path:
    """Misconfiguration scans read no DB; the cache is a place beside the report."""
    out = tmp_path / "out"
    out.mkdir()
    return out / "cache"


def _failing_by_target(report: Path) -> dict[str, set[str]]:
    """Failed check IDs per target (a file) of the report."""
    data = json.loads(report.read_text())
    failing: dict[str, set[str]] = {}
    for result in data.get("Results") or []:
        failing.setdefault(str(result["Target"]), set()).update(
            m["ID"] for m in result.get("Misconfigurations") or [] if m["Status"] == "FAIL")
    return failing


def _failing_by_directory(report: Path) -> dict[str, set[str]]:
    """Failed check IDs per top directory of the scanned tree (a target is `<n>/<file>`)."""
    data = json.loads(report.read_text())
    failing: dict[str, set[str]] = {}
    for result in data.get("Results") or []:
        top = str(result["Target"]).split("/", 1)[0]
        failing.setdefault(top, set()).update(
            m["ID"] for m in result.get("Misconfigurations") or [] if m["Status"] == "FAIL")
    return failing


@pytest.fixture(scope="module")
def trivy_verdicts(trivy_cache_dir: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[set[str],
                                                                           set[str]]]:
    """form -> (what Trivy fails in the clean file, what it fails with the token), from one
    scan of one tree holding every form twice, clean and with its token, each file in a
    directory of its own (Trivy's ignores act on their own file, and --allow-inline-ignores
    changes nothing Trivy is given: one scan instead of two per form, the same verdict per
    file; Trivy's start-up, compiling its checks, is most of a small scan's cost)."""
    base = tmp_path_factory.mktemp("forms")
    project = base / "project"
    for number, (name, clean, hidden, _finding, _line) in enumerate(FORMS.values()):
        for side, content in (("clean", clean), ("hidden", hidden)):
            (project / f"{side}-{number}").mkdir(parents=True)
            (project / f"{side}-{number}" / name).write_text(content)
    out = base / "out"
    out.mkdir()
    assert _scan("--fs", str(project), "--allow-inline-ignores", cache=out / "cache") == 0
    verdicts = _failing_by_directory(out / "r.json")
    scanned = {f"{side}-{n}" for side in ("clean", "hidden") for n in range(len(FORMS))}
    assert scanned <= set(verdicts), sorted(scanned - set(verdicts))  # every file was read
    return {form: (verdicts[f"clean-{n}"], verdicts[f"hidden-{n}"])
            for n, form in enumerate(FORMS)}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_trivy_obeys_is_refused_in_a_checkout(
    form: str, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    trivy_verdicts: dict[str, tuple[set[str], set[str]]],
) -> None:
    name, _clean, hidden, finding, line = FORMS[form]
    control, obeyed = trivy_verdicts[form]
    assert finding in control  # the control
    assert finding not in obeyed  # Trivy obeys this form
    project = tmp_path / "project"
    project.mkdir()
    report = cache.parent / "r.json"
    (project / name).write_text(hidden)
    capsys.readouterr()
    assert _scan("--fs", str(project), cache=cache) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{project / name}:{line}: an inline trivy:ignore" in err
    assert not report.exists()


def test_a_dockerfile_in_an_image_layer_is_refused(
    cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """One image holds the control (a clean Dockerfile) and the token's Dockerfile: Trivy, run
    once with the token accepted, fails the control and drops the other's finding (each
    Dockerfile is its own target); scangate refuses the image by default."""
    report = cache.parent / "r.json"
    image = one_layer_archive(tmp_path / "image.tar", {
        "app/clean/Dockerfile": DOCKERFILE.encode(),
        "app/hidden/Dockerfile": b"# see trivy:ignore:*\n" + DOCKERFILE.encode()})
    assert _scan("--input", str(image), "--allow-inline-ignores", cache=cache) == 0
    failing = _failing_by_target(report)
    assert "DS-0001" in failing.get("app/clean/Dockerfile", set())  # the control
    assert "DS-0001" not in failing["app/hidden/Dockerfile"]  # read, and Trivy obeys the token
    capsys.readouterr()
    assert _scan("--input", str(image), cache=cache) == 2
    err = capsys.readouterr().err
    assert f"{image}!l1/layer.tar!app/hidden/Dockerfile:1: an inline trivy:ignore" in err
    assert not report.exists()


@pytest.mark.parametrize(("gzip_layer", "gzip_archive"), [(True, False), (False, True),
                                                          (True, True)])
def test_compressed_layers_and_archives_are_looked_into(tmp_path: Path, gzip_layer: bool,
                                                        gzip_archive: bool) -> None:
    files = {"etc/x": b"y", "app/chart/values.yaml": b"a: 1\nb: 2 # trivy:ignore:KSV-0001\n"}
    archive = one_layer_archive(tmp_path / "i.tar", files, gzip_layer=gzip_layer,
                                gzip_archive=gzip_archive)
    assert find_inline_ignore_in_image(str(archive)) == (
        "i.tar!l1/layer.tar!app/chart/values.yaml", 2)
    files["app/chart/values.yaml"] = b"a: 1\n"
    archive = one_layer_archive(tmp_path / "i.tar", files, gzip_layer=gzip_layer,
                                gzip_archive=gzip_archive)
    assert find_inline_ignore_in_image(str(archive)) is None


def test_a_layer_that_cannot_be_read_is_refused_not_skipped(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    archive = one_layer_archive(tmp_path / "i.tar", {"Dockerfile": DOCKERFILE.encode()})
    data = archive.read_bytes()
    zstd = b"\x28\xb5\x2f\xfd" + b"\0" * 60
    layer = layer_tar({"Dockerfile": DOCKERFILE.encode()})
    archive.write_bytes(data.replace(layer, zstd + layer[len(zstd):]))
    with pytest.raises(UnreadableError, match="zstd"):
        find_inline_ignore_in_image(str(archive))
    assert _scan("--input", str(archive), cache=cache) == 2
    assert "cannot tell whether it holds an inline" in capsys.readouterr().err


def test_a_registry_image_with_misconfig_is_refused_with_a_how_to(
    cache: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert _scan("--image", "127.0.0.1:9/x:1", cache=cache) == 2
    assert "docker save" in capsys.readouterr().err


def test_archives_in_a_checkout_are_looked_into(tmp_path: Path) -> None:
    """A Helm chart archive (.tgz) holds templates Trivy renders and scans."""
    chart = layer_tar({"chart/Chart.yaml": b"name: c\n",
                    "chart/templates/d.yaml": b"kind: Deployment\n# trivy:ignore:KSV-0001\n"})
    (tmp_path / "c.tgz").write_bytes(gzip.compress(chart))
    assert find_inline_ignore(str(tmp_path)) == ("c.tgz!chart/templates/d.yaml", 2)


OBEYED = [
    b"# trivy:ignore:DS-0001", b"#trivy:ignore:*", b"// tfsec:ignore:aws-s3", b"/*trivy:ignore:X*/",
    b"/* trivy:ignore:X */", b"x = 1 # see trivy:ignore:X", b"RUN echo trivy:ignore:*",
    b'"//": " trivy:ignore:* "', b"a: b # trivy:exp:2099-01-01:ignore:X",
    b"# trivy:ignore:X[ws=dev]", b"\t  ##**trivy:ignore:X", b"a \xc2\xa0trivy:ignore:X",
    b"TRIVY:ignore:X",  # Trivy is case-sensitive; refusing more is safe
]
NOT_OBEYED = [
    b"name: trivy:ignore-me", b"xtrivy:ignore:*", b'"//": "trivy:ignore:*"', b"trivy:ws:ignore",
    b"# trivy:ignore:", b"# trivy:ignore:[a=b]", b"jobs:\n  trivy:\n    runs-on: x",
    b"see trivy: ignore:X",
]


@pytest.mark.parametrize("line", OBEYED)
def test_the_parser_finds_what_trivy_obeys(line: bytes) -> None:
    assert find_in_stream(io.BytesIO(b"a\n" + line + b"\nb\n").read) == 2


@pytest.mark.parametrize("line", NOT_OBEYED)
def test_the_parser_leaves_what_trivy_does_not_obey(line: bytes) -> None:
    assert find_in_stream(io.BytesIO(b"a\n" + line + b"\nb\n").read) is None


@pytest.mark.parametrize("offset", [0, 1, 4090, 4096, 4100, (1 << 20) - 3, (1 << 20) + 5])
def test_tokens_across_chunk_boundaries_and_line_counts(offset: int) -> None:
    data = b"\n" * offset + b"# trivy:ignore:X\n" + b"y" * (3 << 20)
    assert find_in_stream(io.BytesIO(data).read) == offset + 1
    data = b"a" * offset + b" " + b"x" * (2 << 20) + b"\n# trivy:ignore:X"
    assert find_in_stream(io.BytesIO(data).read) == 2


def test_undecidable_runs_count_as_obeyed() -> None:
    long_run = b"x\n" * (2 << 20) + b"z" + b"#" * 5000 + b"trivy:ignore:X"
    assert find_in_stream(io.BytesIO(long_run).read) is not None
    long_token = b"# trivy:" + b"a:b:" * 3000 + b"ignore:X"
    assert find_in_stream(io.BytesIO(long_token + b"\n").read) == 1


def test_every_file_kind_trivy_parses_is_looked_into(tmp_path: Path) -> None:
    """Terraform JSON and CloudFormation JSON, Dockerfile name variants, Containerfiles."""
    for name in ("main.tf.json", "stack.json", "api.Dockerfile", "Dockerfile.prod",
                 "Containerfile", "inventory.ini", "stack.template"):
        root = tmp_path / name.replace(".", "-")
        root.mkdir()
        (root / name).write_text('x = 1\n"//": " trivy:ignore:* "\n')
        assert find_inline_ignore(str(root)) == (name, 2), name
