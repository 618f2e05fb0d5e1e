"""Find the baseline of a change: the gate's ``summary.json`` of the base branch's last
successful run, from the CI system's own API.

GitHub (REST API, "Workflow runs" and "Artifacts"; token with ``actions: read``):
  GET {api}/repos/{repo}/actions/workflows/{workflow file}/runs
      ?branch={base}&event=push&status=success&per_page=1
  GET {api}/repos/{repo}/actions/runs/{run_id}/artifacts?per_page=100&page=N
  GET {api}/repos/{repo}/actions/artifacts/{artifact_id}/zip   (302 to a signed URL)
  The artifact is the one the gate action uploaded for the image,
  ``scangate-reports-<image>-<call>-<attempt>``, newest attempt; ``summary.json`` at its root.
  ``deployed``: instead of the newest successful run, the newest of the last RUNS_SEARCHED push
  runs (whatever their conclusion: a job after the deploy may have failed) that deployed,
  i.e. holds a ``scangate-deployed-<call>-<attempt>`` artifact (container-release.yml's deploy
  job uploads its deploy records, the images it applied by digest, under that name after every
  rollout succeeded; expired or not, it marks the run). Its summary is the deployed digest's:
  the gate of the same run gated the image that run pushed and deployed.
GitLab (REST API v4, "Job artifacts"; the job token may read them):
  GET {api}/projects/{id}/jobs/artifacts/{ref}/raw/{path}?job={job}
  (the file of the ref's latest successful pipeline).

Nothing found is not an error: the step says why and writes nothing, and the gate, given a
missing baseline, gates on every finding and says so. What is found is only copied: the gate
reads it as it reads any baseline (a summary it cannot read is not used).
"""

from __future__ import annotations

import io
import re
import urllib.parse
import zipfile
from typing import Any

from scangate.ci_api import GITHUB_HEADERS, ApiClient, check_api_url

MAX_ARTIFACT = 512 << 20
MAX_SUMMARY = 64 << 20
# How far back the deployed run is looked for: the API's largest page of runs.
RUNS_SEARCHED = 100
DEPLOYED_ARTIFACT = re.compile(r"scangate-deployed-[0-9a-f]{8}-[0-9]+")


class NoBaseline(Exception):
    """Why there is no baseline (said, never fatal)."""


def _workflow_file(workflow_ref: str) -> str:
    """``owner/repo/.github/workflows/ci.yml@refs/heads/main`` -> ``ci.yml``."""
    path = workflow_ref.split("@", 1)[0]
    match = re.fullmatch(r"[^/]+/[^/]+/\.github/workflows/([^/]+\.ya?ml)", path)
    if match is None:
        raise NoBaseline(f"workflow ref {workflow_ref[:200]!r} is not "
                         "OWNER/REPO/.github/workflows/FILE@REF")
    return match.group(1)


def _summary_from_zip(data: bytes) -> bytes:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise NoBaseline("the artifact is not a zip archive") from None
    with archive:
        try:
            info = archive.getinfo("summary.json")
        except KeyError:
            raise NoBaseline("the artifact has no summary.json at its root (the gate errored "
                             "on the base?)") from None
        if info.file_size > MAX_SUMMARY:
            raise NoBaseline(f"summary.json is larger than {MAX_SUMMARY >> 20} MiB")
        with archive.open(info) as handle:
            content = handle.read(MAX_SUMMARY + 1)
    if len(content) > MAX_SUMMARY:
        raise NoBaseline(f"summary.json is larger than {MAX_SUMMARY >> 20} MiB")
    return content


def _run_artifacts(api: ApiClient, repo: str, run_id: int) -> list[dict[str, Any]]:
    """Every artifact of a run (up to 1,000), as the API lists them."""
    found: list[dict[str, Any]] = []
    for page in range(1, 11):
        answer = api.call("GET", f"/repos/{repo}/actions/runs/{run_id}/artifacts",
                          params={"per_page": "100", "page": str(page)})
        artifacts = answer.get("artifacts") if isinstance(answer, dict) else None
        if not isinstance(artifacts, list):
            raise NoBaseline("the artifacts list of the base run is not a list")
        found.extend(a for a in artifacts if isinstance(a, dict))
        if len(artifacts) < 100:
            break
    return found


def github_summary(api_url: str, repository: str, token: str, workflow_ref: str, branch: str,
                   image: str, session: Any = None,
                   deployed: bool = False) -> tuple[bytes, str]:
    """The summary and where it came from (run URL or id), or NoBaseline.

    ``deployed``: from the newest successful push run on ``branch`` that deployed."""
    api = ApiClient(check_api_url(api_url, "GitHub API URL"),
                    {**GITHUB_HEADERS, "Authorization": f"Bearer {token}"}, "GitHub",
                    {403: "the token may not read Actions: the job needs `actions: read`"},
                    session)
    repo = "/".join(urllib.parse.quote(part, safe="") for part in repository.split("/", 1))
    # Deployed: the marker is the proof, whatever a later job of that run concluded.
    query = ({"branch": branch, "event": "push", "per_page": str(RUNS_SEARCHED)} if deployed
             else {"branch": branch, "event": "push", "status": "success", "per_page": "1"})
    runs = api.call("GET", f"/repos/{repo}/actions/workflows/"
                    f"{urllib.parse.quote(_workflow_file(workflow_ref), safe='')}/runs",
                    params=query)
    listed = runs.get("workflow_runs") if isinstance(runs, dict) else None
    if not isinstance(listed, list) or not listed or not all(
            isinstance(r, dict) and isinstance(r.get("id"), int) for r in listed):
        raise NoBaseline(f"no {'' if deployed else 'successful '}push run of this workflow "
                         f"on {branch}")
    run, artifacts = listed[0], None
    if deployed:
        for candidate in listed[:RUNS_SEARCHED]:
            artifacts = _run_artifacts(api, repo, candidate["id"])
            if any(DEPLOYED_ARTIFACT.fullmatch(str(a.get("name", ""))) for a in artifacts):
                run = candidate
                break
        else:
            raise NoBaseline(
                f"none of the last {min(len(listed), RUNS_SEARCHED)} push runs of this "
                f"workflow on {branch} deployed (no scangate-deployed-* artifact: "
                "container-release.yml's deploy job uploads it after a successful rollout)")
    else:
        artifacts = _run_artifacts(api, repo, run["id"])
    pattern = re.compile(rf"scangate-reports-{re.escape(image)}-([0-9a-f]{{8}})-([0-9]+)")
    found: dict[str, tuple[int, int]] = {}
    for artifact in artifacts:
        if artifact.get("expired"):
            continue
        match = pattern.fullmatch(str(artifact.get("name", "")))
        if match and isinstance(artifact.get("id"), int):
            attempt = int(match.group(2))
            call = match.group(1)
            if call not in found or found[call][0] < attempt:
                found[call] = (attempt, artifact["id"])
    where = str(run.get("html_url") or f"run {run['id']}")
    if deployed:
        where = f"the deployed run {where}"
    if not found:
        raise NoBaseline(f"the base run {where} kept no reports artifact of {image} (expired, "
                         "or the image was not gated there)")
    if len(found) > 1:
        raise NoBaseline(f"the base run {where} gated {image} in {len(found)} workflow calls: "
                         "which one is the baseline is ambiguous")
    (_, artifact_id), = found.values()
    data = api.download(f"/repos/{repo}/actions/artifacts/{artifact_id}/zip", MAX_ARTIFACT)
    return _summary_from_zip(data), where


def gitlab_summary(api_url: str, project: str, job_token: str, ref: str, job: str,
                   path: str, session: Any = None) -> tuple[bytes, str]:
    api = ApiClient(check_api_url(api_url, "GitLab API URL"), {"JOB-TOKEN": job_token},
                    "GitLab", {404: "no successful pipeline of the ref with that job and file"},
                    session)
    quoted = "/".join(urllib.parse.quote(part, safe="") for part in path.split("/"))
    content = api.download(
        f"/projects/{urllib.parse.quote(project, safe='')}/jobs/artifacts/"
        f"{urllib.parse.quote(ref, safe='')}/raw/{quoted}?job={urllib.parse.quote(job)}",
        MAX_SUMMARY)
    return content, f"{ref}'s latest successful pipeline, job {job}"
