"""Jobs read each other's artifacts by id, never by name (issue 19 §4).

Why not by name: any job of the run can upload an artifact of any free name, and
download-artifact by name or pattern takes what it finds; the old picker took the newest
`<prefix>-<attempt>`. By id, a job downloads exactly what the leg that built, scanned, gated or
pushed its image uploaded.

What the platform gives (each rule below has a test here):
- upload-artifact v7.0.0's `artifact-id` output, download-artifact v8.0.1's `artifact-ids`
  input (their action.yml; the act stand-ins declare the same inputs and outputs).
- download-artifact v8.0.1, src/download-artifact.ts: `name` with `artifact-ids` is refused;
  an empty `artifact-ids` (and no name) downloads every artifact of the run (or every one a
  pattern matches); a lone artifact is extracted into `path` itself, several into
  `path/<name>/` (since v5.0.0, commit fff8c14).
- A matrix job's outputs are merged over its legs, and a leg that leaves an output empty does
  not clear another leg's (GitHub docs, "Workflow syntax for GitHub Actions", "Using job
  outputs in a matrix job": each leg sets `output_<n>`). So each uploading job declares
  `<kind>-0` .. `<kind>-<MAX_IMAGES - 1>` and each leg fills its image's index.
- Outputs of a job that is not re-run stay available to the jobs re-run after it ("Re-run failed
  jobs"), so a re-run gate still downloads the scan its image had; a job re-run that uploads
  nothing keeps its previous attempt's output (actions/runner#2598): that is an artifact of the
  same run and commit, which the image checks still verify.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from scangate._cli import main
from scangate.images_plan import MAX_IMAGES

from tests.github.actrun import REPO_ROOT, STANDINS
from tests.github.test_workflow_steps import handoff, release_plan

SCAN = REPO_ROOT / ".github" / "workflows" / "container-scan.yml"
RELEASE = REPO_ROOT / ".github" / "workflows" / "container-release.yml"
ACTIONS = sorted((REPO_ROOT / "actions").glob("*/action.yml"))


def _jobs(path: Path) -> dict[str, Any]:
    jobs: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"]
    return jobs


@pytest.mark.parametrize(("path", "job", "kind", "step_id", "output"), [
    (SCAN, "build", "image", "upload", "artifact-id"),
    (SCAN, "scan", "scan", "upload", "artifact-id"),
    (SCAN, "gate", "reports", "gate", "artifact-id"),
    (RELEASE, "push", "push", "upload", "artifact-id"),
])
def test_each_uploading_job_has_one_output_per_image_index(
    path: Path, job: str, kind: str, step_id: str, output: str
) -> None:
    spec = _jobs(path)[job]
    expected = {f"{kind}-{i}": f"${{{{ matrix.image.index == {i} && steps.{step_id}.outputs."
                               f"{output} || '' }}}}" for i in range(MAX_IMAGES)}
    assert spec["outputs"] == expected
    [step] = [s for s in spec["steps"] if s.get("id") == step_id]
    uses = str(step["uses"])
    assert uses.startswith("actions/upload-artifact@") or "/actions/gate@" in uses, uses
    assert spec["strategy"]["matrix"]["image"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"


def test_the_gate_action_hands_on_its_reports_artifact_id() -> None:
    action = yaml.safe_load((REPO_ROOT / "actions" / "gate" / "action.yml").read_text())
    [upload] = [s for s in action["runs"]["steps"] if s.get("id") == "upload-reports"]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert action["outputs"]["artifact-id"]["value"] == (
        "${{ steps.upload-reports.outputs.artifact-id }}")


def _downloads() -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """(where, step, the steps before it) of every download-artifact step we ship."""
    found = []
    for path in (SCAN, RELEASE):
        for job_id, job in _jobs(path).items():
            steps = job.get("steps", [])
            for index, step in enumerate(steps):
                if str(step.get("uses", "")).startswith("actions/download-artifact@"):
                    found.append((f"{path.name} {job_id}", step, steps[:index]))
    for path in ACTIONS:
        steps = yaml.safe_load(path.read_text(encoding="utf-8"))["runs"]["steps"]
        for index, step in enumerate(steps):
            if str(step.get("uses", "")).startswith("actions/download-artifact@"):
                found.append((str(path.relative_to(REPO_ROOT)), step, steps[:index]))
    return found


def test_every_download_is_by_id_and_never_with_an_empty_id() -> None:
    """Only `artifact-ids` and `path`; the ids are either one leg's (the step skipped when it
    is empty: an empty `artifact-ids` would download every artifact of the run) or the list
    `scangate artifact ids` makes, which starts with the plan's artifact (never empty)."""
    downloads = _downloads()
    assert len(downloads) >= 10, [where for where, _, _ in downloads]
    for where, step, before in downloads:
        assert set(step["with"]) == {"artifact-ids", "path"}, (where, step)
        ids = step["with"]["artifact-ids"]
        if ids == "${{ steps.ids.outputs.ids }}":
            [lister] = [s for s in before if s.get("id") == "ids"]
            assert "artifact ids --outputs" in lister["run"], where
            assert lister["env"]["INPUT_PLAN_ARTIFACT"], where
            assert "if" not in lister and "if" not in step, where
        else:
            assert ids.startswith("${{ ") and ids.endswith(" }}"), (where, ids)
            assert ids[4:-3] + " != ''" in step["if"], (where, step.get("if"))


def _ids(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, str]:
    out = tmp_path / "out"
    out.write_text("", encoding="utf-8")
    code = main(["artifact", "ids", *args, "--outputs", str(out)])
    return code, out.read_text(encoding="utf-8") + capsys.readouterr().err


def test_artifact_ids_lists_the_plan_first_then_each_leg(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = _ids(capsys, tmp_path, "--plan-artifact", "5",
                     "--scan-outputs", json.dumps({"scan-1": "72", "scan-0": "71", "scan-2": ""}),
                     "--reports-outputs", '{\n  "reports-0": "81"\n}')
    assert (code, out) == (0, "ids=5,71,72,81\n")
    matrix = json.dumps([{"name": "a", "reports_artifact": "81"}, {"name": "b",
                                                                     "reports_artifact": ""}])
    code, out = _ids(capsys, tmp_path, "--plan-artifact", "5", "--push-outputs", "{}",
                     "--matrix", matrix, "--matrix-kind", "reports")
    assert (code, out) == (0, "ids=5,81\n")


@pytest.mark.parametrize(("args", "said"), [
    (["--plan-artifact", ""], "--plan-artifact is empty"),
    (["--plan-artifact", "5", "--scan-outputs", '{"scan-0": "1,2"}'], "not an artifact id"),
    (["--plan-artifact", "5", "--scan-outputs", '{"scan-0": "-1"}'], "not an artifact id"),
    (["--plan-artifact", "5", "--scan-outputs", '{"image-0": "1"}'], "unexpected output"),
    (["--plan-artifact", "5", "--scan-outputs", f'{{"scan-{MAX_IMAGES}": "1"}}'],
     "unexpected output"),
    (["--plan-artifact", "5", "--scan-outputs", "[]"], "not a JSON object"),
    (["--plan-artifact", "x"], "not an artifact id"),
])
def test_artifact_ids_refuses_what_is_not_an_id(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], said: str
) -> None:
    code, out = _ids(capsys, tmp_path, *args)
    assert code == 2 and said in out and "ids=" not in out


def test_the_plan_indexes_images_and_caps_them(capsys: pytest.CaptureFixture[str]) -> None:
    images = [{"name": f"i{n}"} for n in range(MAX_IMAGES)]
    assert main(["plan", "images", "--images", json.dumps(images)]) == 0
    matrix = json.loads(capsys.readouterr().out.splitlines()[0].removeprefix("matrix="))
    assert [e["index"] for e in matrix] == list(range(MAX_IMAGES))
    images.append({"name": "one-more"})
    assert main(["plan", "images", "--images", json.dumps(images)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"at most {MAX_IMAGES} per call" in err


def test_the_release_plan_refuses_a_handoff_without_valid_ids(tmp_path: Path) -> None:
    good = json.loads(handoff(tmp_path / "good"))
    assert release_plan(tmp_path / "ok", json.dumps(good)).returncode == 0
    for change, said in [({"plan_artifact": ""}, "names no plan artifact"),
                         ({"plan_artifact": "1,2"}, "not an artifact id")]:
        step = release_plan(tmp_path / said, json.dumps({**good, **change}))
        assert step.returncode == 2 and said in step.output, step.output
    for key, value, said in [("image_artifact", "1 2", "not an artifact id"),
                             ("index", None, "has no index"),
                             ("scan_artifact", None, "has no scan_artifact")]:
        entry = {k: v for k, v in good["matrix"][0].items() if k != key}
        if value is not None:
            entry[key] = value
        step = release_plan(tmp_path / key, json.dumps({**good, "matrix": [entry]}))
        assert step.returncode == 2 and said in step.output, step.output


# --- the act stand-ins model the real actions' ids ------------------------------------------


def _standin(name: str, state: Path, env: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    script = yaml.safe_load((STANDINS / "actions" / name / "action.yml").read_text())["runs"][
        "steps"][0]["run"]
    out = state / "github_output"
    out.write_text("", encoding="utf-8")
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False,
                          env={"PATH": os.environ["PATH"], "SCANGATE_STANDIN_STATE": str(state),
                               "GITHUB_OUTPUT": str(out), "GITHUB_JOB": "job",
                               "GITHUB_WORKSPACE": str(state), **env})  # fmt: skip
    lines = out.read_text(encoding="utf-8").splitlines()
    return proc.returncode, proc.stdout + proc.stderr, dict(x.split("=", 1) for x in lines)


def _upload(state: Path, name: str, content: str) -> str:
    source = state / "src" / name
    source.mkdir(parents=True)
    (source / "file.txt").write_text(content, encoding="utf-8")
    code, output, outputs = _standin("upload-artifact", state, {
        "INPUT_NAME": name, "INPUT_PATH": str(source), "INPUT_IF_NO_FILES_FOUND": "error",
        "INPUT_RETENTION_DAYS": "", "INPUT_OVERWRITE": "false", "INPUT_ARCHIVE": "true"})
    assert code == 0, output
    return outputs["artifact-id"]


def _download(state: Path, dest: str, ids: str = "", name: str = "",
              pattern: str = "") -> tuple[int, str, Path]:
    code, output, _ = _standin("download-artifact", state, {
        "INPUT_NAME": name, "INPUT_ARTIFACT_IDS": ids, "INPUT_PATH": str(state / dest),
        "INPUT_PATTERN": pattern, "INPUT_MERGE_MULTIPLE": "false", "INPUT_GITHUB_TOKEN": "",
        "INPUT_SKIP_DECOMPRESS": "false"})
    return code, output, state / dest


def test_the_stand_ins_download_by_id_as_download_artifact_does(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    ids = [_upload(tmp_path, f"scangate-scan-{n}-0a1b2c3d-1", n) for n in ("a", "b", "c")]
    assert len(set(ids)) == 3 and all(i.isdigit() for i in ids)
    # One id: the artifact's files in `path` itself.
    code, output, dest = _download(tmp_path, "one", ids=ids[1])
    assert code == 0, output
    assert [p.name for p in dest.iterdir()] == ["file.txt"]
    assert (dest / "file.txt").read_text() == "b"
    # Several (spaces and empty entries as a folded list gives them): one directory each.
    code, output, dest = _download(tmp_path, "two", ids=f" {ids[0]}, {ids[2]},,")
    assert code == 0, output
    assert sorted(p.name for p in dest.iterdir()) == ["scangate-scan-a-0a1b2c3d-1",
                                                      "scangate-scan-c-0a1b2c3d-1"]
    # A pattern that matches one artifact: also into `path` itself (v5+).
    code, output, dest = _download(tmp_path, "pattern", pattern="scangate-scan-a-*")
    assert code == 0 and [p.name for p in dest.iterdir()] == ["file.txt"]
    # Nothing given: every artifact of the run.
    code, output, dest = _download(tmp_path, "all")
    assert code == 0 and len(list(dest.iterdir())) == 3
    # Refused as the real action refuses.
    for kwargs, said in [({"ids": ids[0], "name": "x"}, "cannot be used together"),
                         ({"ids": "12x"}, "Must be a number"),
                         ({"ids": "1"}, "None of the provided artifact IDs were found"),
                         ({"ids": " , "}, "No valid artifact IDs")]:
        code, output, _ = _download(tmp_path, "refused", **kwargs)
        assert code == 1 and said in output, (kwargs, output)
    code, output, _ = _download(tmp_path, "partial", ids=f"{ids[0]},1")
    assert code == 0 and "Could not find the following artifact IDs: 1" in output


def test_the_stand_ins_declare_the_real_actions_inputs_and_outputs() -> None:
    """Names from actions/upload-artifact v7.0.0's and download-artifact v8.0.1's action.yml."""
    upload = yaml.safe_load((STANDINS / "actions" / "upload-artifact" / "action.yml").read_text())
    assert set(upload["inputs"]) == {"name", "path", "if-no-files-found", "retention-days",
                                     "compression-level", "overwrite", "include-hidden-files",
                                     "archive"}
    assert set(upload["outputs"]) == {"artifact-id", "artifact-url", "artifact-digest"}
    download = yaml.safe_load(
        (STANDINS / "actions" / "download-artifact" / "action.yml").read_text())
    assert set(download["inputs"]) == {"name", "artifact-ids", "path", "pattern",
                                       "merge-multiple", "github-token", "repository", "run-id",
                                       "skip-decompress", "digest-mismatch"}
    assert set(download["outputs"]) == {"download-path"}
