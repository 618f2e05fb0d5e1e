"""Find the baseline of a change: the gate's ``summary.json`` of the base branch's last
successful run, from the CI system's own API.

GitHub (REST API, "Workflow runs" and "Artifacts"; token with ``actions: read``):
  GET {api}/repos/{repo}/actions/workflows/{workflow file}/runs
      ?branch={base}&event=push&status=success&per_page=1
  GET {api}/repos/{repo}/actions/runs/{run_id}/artifacts?per_page=100&page=N
  GET {api}/repos/{repo}/actions/artifacts/{artifact_id}/zip   (302 to a signed URL)
  The artifact is the one the gate action uploaded for the image,
  ``scangate-reports-<image>-<call>-<attempt>``, newest attempt; ``summary.json`` at its root.
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


def github_summary(api_url: str, repository: str, token: str, workflow_ref: str, branch: str,
                   image: str, session: Any = None) -> tuple[bytes, str]:
    """The summary and where it came from (run URL or id), or NoBaseline."""
    api = ApiClient(check_api_url(api_url, "GitHub API URL"),
                    {**GITHUB_HEADERS, "Authorization": f"Bearer {token}"}, "GitHub",
                    {403: "the token may not read Actions: the job needs `actions: read`"},
                    session)
    repo = "/".join(urllib.parse.quote(part, safe="") for part in repository.split("/", 1))
    runs = api.call("GET", f"/repos/{repo}/actions/workflows/"
                    f"{urllib.parse.quote(_workflow_file(workflow_ref), safe='')}/runs",
                    params={"branch": branch, "event": "push", "status": "success",
                            "per_page": "1"})
    listed = runs.get("workflow_runs") if isinstance(runs, dict) else None
    if not isinstance(listed, list) or not listed or not isinstance(listed[0], dict) \
            or not isinstance(listed[0].get("id"), int):
        raise NoBaseline(f"no successful push run of this workflow on {branch}")
    run = listed[0]
    pattern = re.compile(rf"scangate-reports-{re.escape(image)}-([0-9a-f]{{8}})-([0-9]+)")
    found: dict[str, tuple[int, int]] = {}
    for page in range(1, 11):
        answer = api.call("GET", f"/repos/{repo}/actions/runs/{run['id']}/artifacts",
                          params={"per_page": "100", "page": str(page)})
        artifacts = answer.get("artifacts") if isinstance(answer, dict) else None
        if not isinstance(artifacts, list):
            raise NoBaseline("the artifacts list of the base run is not a list")
        for artifact in artifacts:
            if not isinstance(artifact, dict) or artifact.get("expired"):
                continue
            match = pattern.fullmatch(str(artifact.get("name", "")))
            if match and isinstance(artifact.get("id"), int):
                attempt = int(match.group(2))
                call = match.group(1)
                if call not in found or found[call][0] < attempt:
                    found[call] = (attempt, artifact["id"])
        if len(artifacts) < 100:
            break
    where = str(run.get("html_url") or f"run {run['id']}")
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
