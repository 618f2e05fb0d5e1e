"""The CI/CD Catalog: the layout, the component, the release job and the include, against GitLab.

gitlab-ci-local knows no catalog, so each rule GitLab applies when it publishes a version or
resolves a `component:` include is encoded here, with its source (gitlab-org/gitlab):
- Components are the files matching `Ci::Catalog::ComponentsProject::TEMPLATE_PATH_REGEX`,
  `^templates\\/[\\w-]+(?:\\/template)?\\.yml$`, at most `COMPONENTS_LIMIT` = 30 per release
  (app/models/ci/catalog/components_project.rb; Ci::Catalog::Resources::Versions::CreateService
  refuses a release with more). A component's name is the file's basename, or its directory's
  for `templates/<name>/template.yml` (`extract_component_name`).
- The project must hold README.md at the released commit and have a description
  (app/services/ci/catalog/resources/validate_service.rb); the description is a project setting,
  which docs/gitlab.md names.
- A version is the release's tag, validated by `Gitlab::Regex::SemVer.optional_prefixed`: an
  optional `v`, then semver.org's regular expression (lib/gitlab/regex/sem_ver.rb,
  `unbounded_semver_regex` in lib/gitlab/regex.rb; `SemanticVersionable`). A release is made by a
  CI job with the `release:` keyword (GitLab docs, "CI/CD components", "Publish a new release").
- The component's `spec:` is stored under the JSON schema `catalog_resource_component_spec`
  (app/validators/json_schemas/): only `inputs` (and `component`) keys; every input a mapping or
  null; a `default` an array, boolean, integer or string; `regex` and `type` strings.
- `component: $CI_SERVER_FQDN/<project path>/<name>@<version>`
  (`Ci::Catalog::Resources::Component#include_path`), where the version is resolved as `~latest`,
  a shorthand `MAJOR` or `MAJOR.MINOR` (`SHORTHAND_SEMVER_PATTERN`), a released tag, or any ref
  (`Gitlab::Ci::Components::InstancePath#find_version_sha`).
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml

from tests.gitlab import gitlab_expression as gx
from tests.gitlab import glci

ROOT = glci.REPO_ROOT
TEMPLATE_PATH_REGEX = re.compile(r"^templates\/[\w-]+(?:\/template)?\.yml$", re.ASCII)
COMPONENTS_LIMIT = 30
# semver.org's suggested expression, the prerelease alternatives in GitLab's greedy order.
_IDENT = r"(?:\d*[a-zA-Z-][0-9a-zA-Z-]*|0|[1-9]\d*)"
SEMVER_OPTIONAL_PREFIXED = re.compile(
    r"\Av?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    rf"(?:-({_IDENT}(?:\.{_IDENT})*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z", re.ASCII)
SHORTHAND_SEMVER_PATTERN = re.compile(r"^\d+(\.\d+)?$")
COMPONENT_NAME = "container-scan"
DOCS = ROOT / "docs" / "gitlab.md"


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "templates"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [path for path in out.split("\0") if path]


def component_name(path: str) -> str:
    """`ComponentsProject#extract_component_name`."""
    parent, _, file = path.rpartition("/")
    return file.removesuffix(".yml") if parent == "templates" else parent.rpartition("/")[2]


def catalog_components(paths: list[str]) -> dict[str, str]:
    return {component_name(p): p for p in paths if TEMPLATE_PATH_REGEX.match(p)}


def release_job() -> dict[str, Any]:
    pipeline = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    job: dict[str, Any] = pipeline["release"]
    assert job["stage"] in pipeline["stages"]
    return job


# --- layout ----------------------------------------------------------------------------------


def test_the_catalog_sees_exactly_one_component_the_gitlab_template() -> None:
    """templates/ also holds CloudFormation, Terraform, CodeBuild and Kubernetes files: none may
    match GitLab's component pattern (a `templates/k8s/template.yml` would be published as a
    component `k8s`), and the one that does is the template, byte for byte."""
    paths = tracked_files()
    assert len(paths) > 5, paths  # the other templates are there and were looked at
    components = catalog_components(paths)
    assert components == {COMPONENT_NAME: "templates/container-scan.yml"}
    assert len(components) <= COMPONENTS_LIMIT
    assert (ROOT / components[COMPONENT_NAME]).read_bytes() == glci.TEMPLATE.read_bytes()


@pytest.mark.parametrize(("path", "name"), [
    ("templates/container-scan.yml", "container-scan"),
    ("templates/container-scan/template.yml", "container-scan"),
    ("templates/k8s/template.yml", "k8s"),
])
def test_component_pattern_and_name_as_gitlab_reads_them(path: str, name: str) -> None:
    assert TEMPLATE_PATH_REGEX.match(path)
    assert catalog_components([path]) == {name: path}


@pytest.mark.parametrize("path", [
    "templates/container-scan.yaml", "templates/aws/scangate-roles.yaml",
    "templates/k8s/deployment.yml", "templates/a/b/template.yml", "gitlab/container-scan.yml",
    "templates/über.yml",
])
def test_files_gitlab_does_not_publish(path: str) -> None:
    assert not TEMPLATE_PATH_REGEX.match(path)


def test_the_project_has_the_readme_gitlab_requires() -> None:
    readme = ROOT / "README.md"
    assert "README.md" in subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "README.md"], capture_output=True, text=True,
        check=True, timeout=60).stdout
    assert readme.read_text(encoding="utf-8").strip()


def test_the_component_spec_fits_the_catalog_schema() -> None:
    header = yaml.safe_load(glci.split_documents(
        (ROOT / "templates" / "container-scan.yml").read_text(encoding="utf-8"))[0])
    assert set(header) == {"spec"}
    spec = header["spec"]
    assert set(spec) <= {"inputs", "component"}
    assert spec["inputs"]
    for name, definition in spec["inputs"].items():
        assert definition is None or isinstance(definition, dict), name
        for key, value in (definition or {}).items():
            if "default" in key:  # a pattern property: every key containing "default"
                assert isinstance(value, list | bool | int | str), (name, key, value)
            if "regex" in key:
                assert isinstance(value, str), (name, key)
            if key == "type":
                assert isinstance(value, str), name


# --- the release job -----------------------------------------------------------------------


def test_the_release_job_uses_the_release_keyword_on_the_tag() -> None:
    job = release_job()
    assert job["release"]["tag_name"] == "$CI_COMMIT_TAG"
    assert job["release"]["description"].strip()
    # The runner's release step needs GitLab's release tooling (glab) in the job's image.
    image = job["image"]
    # v0.24.0 carries glab v1.58.0, which GitLab's docs require for catalog releases (18.0+).
    assert re.fullmatch(r"registry\.gitlab\.com/gitlab-org/release-cli:v0\.(2[4-9]|[3-9]\d)\.\d+"
                        r"(@sha256:[0-9a-f]{64})?", image), image
    # Only after the tag's own pipeline proved the template: verify checks both gate decisions.
    assert [need["job"] for need in job["needs"]] == ["verify"]


SEMVER_TAGS = ["v1.2.3", "1.2.3", "v0.1.0", "v10.20.30", "0.0.0"]
REFUSED_TAGS = ["v1.2", "1", "latest", "v01.2.3", "v1.2.3.4", "V1.2.3", "v1.2.3 ", "release-1.2.3",
                "v1.2.3-rc.1", "v1.2.3+build.5", ""]


@pytest.mark.parametrize("tag", SEMVER_TAGS + REFUSED_TAGS)
def test_the_release_rule_takes_protected_semver_tags_only(tag: str) -> None:
    """Every tag the rule releases is a version GitLab's catalog accepts (with GitLab's own
    expression semantics); prereleases and build metadata, which GitLab would accept, are not
    released from here (`~latest` skips prereleases anyway)."""
    [rule] = release_job()["rules"]
    statement = rule["if"]
    assert gx.valid(statement)
    protected = {"CI_COMMIT_TAG": tag, "CI_COMMIT_REF_PROTECTED": "true"}
    released = gx.truthful(statement, protected if tag else {"CI_COMMIT_REF_PROTECTED": "true"})
    assert released == (tag in SEMVER_TAGS)
    if released:
        assert SEMVER_OPTIONAL_PREFIXED.match(tag)
    assert not gx.truthful(statement, {"CI_COMMIT_TAG": tag, "CI_COMMIT_REF_PROTECTED": "false"})
    assert not gx.truthful(statement, {"CI_COMMIT_BRANCH": "main",
                                       "CI_COMMIT_REF_PROTECTED": "true"})


@pytest.mark.parametrize(("version", "accepted"), [
    ("v1.2.3-rc.1", True), ("1.0.0+build.1", True), ("v0.0.0-20201230123456-abcdefabcdef", True),
    ("v1.2", False), ("01.2.3", False), ("1.2.3-", False), ("1.2.3-01", False),
])
def test_the_semver_port(version: str, accepted: bool) -> None:
    assert bool(SEMVER_OPTIONAL_PREFIXED.match(version)) == accepted


def test_the_release_job_appears_in_tag_pipelines_only(
    tmp_path: Any, gitlab_ci_local: Any,
) -> None:
    """As gitlab-ci-local resolves .gitlab-ci.yml: `release` is in a protected semver tag's
    pipeline, after verify (test_template checks it is in no branch pipeline)."""
    dogfood = ROOT / ".gitlab-ci.yml"
    files = {glci.TEMPLATE_REL: glci.TEMPLATE,
             ".scangate/policy.yaml": ROOT / ".scangate" / "policy.yaml"}
    project = glci.make_project(tmp_path / "project", dogfood.read_text(encoding="utf-8"), files)
    tag = glci.list_jobs(project, {"CI_COMMIT_TAG": "v1.2.3", "CI_COMMIT_BRANCH": "",
                                   "CI_COMMIT_REF_PROTECTED": "true"})
    assert tag["release"]["when"] == "on_success", tag["release"]
    assert tag["release"]["stage"] == "release"
    assert [need["job"] for need in tag["release"]["needs"]] == ["verify"]


# --- the include ---------------------------------------------------------------------------


def component_includes(text: str) -> list[str]:
    return re.findall(r"component: (\S+)", text)


def test_docs_include_the_component_as_the_catalog_names_it() -> None:
    """Every `component:` in the docs is `$CI_SERVER_FQDN/<project path>/container-scan@<v>`
    with a version GitLab resolves: a release tag this repository makes, a shorthand, or a
    full commit SHA (never `~latest` in an example: a gate is pinned)."""
    includes = component_includes(DOCS.read_text(encoding="utf-8"))
    assert len(includes) >= 2, includes
    versions = []
    for include in includes:
        path, _, version = include.partition("@")
        assert path.startswith("$CI_SERVER_FQDN/"), include
        project, _, name = path.removeprefix("$CI_SERVER_FQDN/").rpartition("/")
        assert name == COMPONENT_NAME and project.count("/") >= 1, include
        tag_rule = release_job()["rules"][0]["if"]
        released = gx.truthful(tag_rule, {"CI_COMMIT_TAG": version,
                                          "CI_COMMIT_REF_PROTECTED": "true"})
        assert (released or SHORTHAND_SEMVER_PATTERN.match(version)
                or re.fullmatch(r"[0-9a-f]{40}", version)), include
        versions.append(version)
    assert any(SEMVER_OPTIONAL_PREFIXED.match(v) for v in versions), versions
