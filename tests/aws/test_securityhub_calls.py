"""What Security Hub enforces and moto does not, proven with calls a test can see.

- batching (100 findings and 6 MB per call), with botocore's Stubber validating every request
  against the Security Hub model;
- throttling and 5xx retried with exponential backoff and jitter, ``FailedFindings`` retried when
  transient and reported by Id otherwise, a 200 response with failures treated as a failure;
- the GetFindings filter sent for --archive-missing, and the same filter applied client-side.

A recording wrapper sits in front of a real moto client where moto can answer; a stand-in
answers only where moto cannot produce the behaviour (throttling, partial failures).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from scangate.aws import retry
from scangate.aws.asff import Destination, build_records, size_of
from scangate.aws.retry import Backoff
from scangate.aws.securityhub import (
    MAX_BYTES_PER_CALL,
    Importer,
    active_filters,
    active_findings,
    batches,
)
from scangate.errors import AwsError
from scangate.report import parse_report

from tests.aws import reports
from tests.support.moto_server import MotoServer

ACCOUNT = "123456789012"
PRODUCT = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"
DEST = Destination(ACCOUNT, "us-east-1", "aws", PRODUCT)
NOW = dt.datetime(2025, 6, 2, 12, 0, tzinfo=dt.UTC)
Cli = Callable[[list[str]], int]


def records(count: int, **kwargs: Any) -> list[dict[str, Any]]:
    doc = reports.report(reports.many(count), **kwargs)
    return build_records([parse_report(json.dumps(doc).encode(), "r.json")], DEST, NOW).records


def throttle(code: str = "ThrottlingException", status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "BatchImportFindings")


class FakeSecurityHub:
    """Answers BatchImportFindings from a script: an exception, or a function of the batch."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls: list[list[dict[str, Any]]] = []
        self.stored: dict[str, dict[str, Any]] = {}

    def batch_import_findings(self, Findings: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Findings)
        step = self.script.pop(0) if self.script else None
        if isinstance(step, Exception):
            raise step
        failed = step(Findings) if step else []
        failed_ids = {f["Id"] for f in failed}
        for finding in Findings:
            if finding["Id"] not in failed_ids:
                self.stored[finding["Id"]] = finding
        return {"FailedCount": len(failed), "SuccessCount": len(Findings) - len(failed),
                "FailedFindings": failed}


def no_sleep() -> Backoff:
    slept: list[float] = []
    return Backoff(attempts=5, sleep=slept.append, jitter=lambda: 1.0)


def test_batches_respect_100_findings_per_call() -> None:
    recs = records(250)
    sizes = [len(b) for b in batches(recs)]
    assert sizes == [100, 100, 50]
    assert [r["Id"] for b in batches(recs) for r in b] == [r["Id"] for r in recs]


def test_batches_respect_6_mb_per_call() -> None:
    recs = records(60)
    for record in recs:
        record["ProductFields"]["scangate/Padding"] = "x" * 200_000  # ~200 KB, under 240 KB
    assert all(size_of(r) <= 240 * 1024 for r in recs)
    split = list(batches(recs))
    assert all(sum(size_of(r) + 1 for r in b) <= MAX_BYTES_PER_CALL for b in split)
    assert all(len(b) <= 100 for b in split) and len(split) >= 2
    assert sum(len(b) for b in split) == 60


def test_every_request_matches_the_security_hub_model() -> None:
    """Stubber validates each call's parameters against botocore's BatchImportFindings shape."""
    recs = records(230, secrets=2, misconfigs=2)
    client = boto3.client("securityhub", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stub:
        for batch in batches(recs):
            stub.add_response("batch_import_findings",
                              {"FailedCount": 0, "SuccessCount": len(batch),
                               "FailedFindings": []},
                              {"Findings": batch})
        outcome = Importer(client, backoff=no_sleep()).run(recs)
        stub.assert_no_pending_responses()
    assert outcome.imported == 234 and outcome.calls == 3 and not outcome.failed


def test_throttling_is_retried_with_growing_jittered_waits() -> None:
    fake = FakeSecurityHub(throttle(), throttle("TooManyRequestsException", 429),
                           throttle("LimitExceededException"), throttle("InternalException", 500))
    slept: list[float] = []
    backoff = Backoff(attempts=8, base=0.5, cap=20, sleep=slept.append, jitter=lambda: 0.5)
    outcome = Importer(fake, backoff=backoff).run(records(120))
    assert outcome.imported == 120 and not outcome.failed
    assert [len(c) for c in fake.calls] == [100, 100, 100, 100, 100, 20]
    assert slept == [0.5, 1.0, 2.0, 4.0]  # jitter 0.5 x min(cap, 0.5 * 2**n)
    assert len(fake.stored) == 120


def test_backoff_is_capped_and_jitter_is_full() -> None:
    slept: list[float] = []
    backoff = Backoff(attempts=10, base=0.5, cap=3.0, sleep=slept.append, jitter=lambda: 1.0)
    for attempt in range(1, 7):
        backoff.wait(attempt)
    assert slept == [1.0, 2.0, 3.0, 3.0, 3.0, 3.0]
    real = Backoff(sleep=lambda _s: None)
    for _ in range(50):
        real.wait(3)
    assert all(0 <= w <= 4.0 for w in real.waits) and len(set(real.waits)) > 40


def test_throttling_that_never_ends_is_exit_2_naming_what_was_imported() -> None:
    fake = FakeSecurityHub(None, *[throttle() for _ in range(10)])
    with pytest.raises(AwsError, match=r"\(100 findings imported before this\): "
                                       "ThrottlingException"):
        Importer(fake, backoff=no_sleep()).run(records(150))
    assert len(fake.calls) == 1 + 5


def test_non_transient_call_failure_is_not_retried() -> None:
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"},
                          "ResponseMetadata": {"HTTPStatusCode": 403}}, "BatchImportFindings")
    fake = FakeSecurityHub(denied)
    with pytest.raises(AwsError, match="securityhub:BatchImportFindings"):
        Importer(fake, backoff=no_sleep()).run(records(5))
    assert len(fake.calls) == 1


def test_transient_failed_findings_are_retried_until_all_are_in() -> None:
    def fail_some(code: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
        def step(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{"Id": r["Id"], "ErrorCode": code, "ErrorMessage": "try later"}
                    for r in batch[::7]]
        return step

    fake = FakeSecurityHub(fail_some("InternalFailure"), fail_some("ThrottlingException"),
                           fail_some("InternalFailure"))
    recs = records(220)
    outcome = Importer(fake, backoff=no_sleep()).run(recs)
    assert not outcome.failed
    assert set(fake.stored) == {r["Id"] for r in recs}, "nothing lost"
    assert outcome.imported == 220
    # Only the failed findings are sent again, not their whole batch.
    assert [len(c) for c in fake.calls][3:] == [len(fake.calls[0][::7]) + len(fake.calls[1][::7])
                                                + len(fake.calls[2][::7])]


def test_permanent_failed_findings_are_reported_by_id_even_in_a_200() -> None:
    recs = records(30)
    bad = {recs[3]["Id"], recs[17]["Id"]}

    def step(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"Id": r["Id"], "ErrorCode": "InvalidInput", "ErrorMessage": "Title too long"}
                for r in batch if r["Id"] in bad]

    fake = FakeSecurityHub(step)
    outcome = Importer(fake, backoff=no_sleep()).run(recs)
    assert {f.id for f in outcome.failed} == bad
    assert {f.code for f in outcome.failed} == {"InvalidInput"}
    assert outcome.imported == 28 and len(fake.calls) == 1


def test_a_response_that_does_not_account_for_the_batch_is_an_error() -> None:
    class Liar(FakeSecurityHub):
        def batch_import_findings(self, Findings: list[dict[str, Any]]) -> dict[str, Any]:
            return {"FailedCount": 1, "SuccessCount": len(Findings) - 1, "FailedFindings": []}

    with pytest.raises(AwsError, match="cannot tell which findings were imported"):
        Importer(Liar(), backoff=no_sleep()).run(records(10))


def test_an_invalid_batch_is_split_until_the_bad_finding_is_named() -> None:
    recs = records(100)
    poisoned = recs[61]["Id"]

    class Picky(FakeSecurityHub):
        def batch_import_findings(self, Findings: list[dict[str, Any]]) -> dict[str, Any]:
            self.calls.append(Findings)
            if any(r["Id"] == poisoned for r in Findings):
                raise ClientError({"Error": {"Code": "InvalidInputException",
                                             "Message": "Finding is malformed"}}, "Batch")
            return {"FailedCount": 0, "SuccessCount": len(Findings), "FailedFindings": []}

    fake = Picky()
    outcome = Importer(fake, backoff=no_sleep()).run(recs)
    assert [(f.id, f.code) for f in outcome.failed] == [(poisoned, "InvalidInputException")]
    assert outcome.imported == 99
    assert len(fake.calls) <= 1 + 2 * 7


class Recorder:
    """A real boto3 client (on moto) whose calls are recorded; failures can be injected."""

    def __init__(self, client: Any, inject: dict[str, list[Any]] | None = None) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.inject = inject or {}

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if not callable(real) or name.startswith("_"):
            return real

        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            queue = self.inject.get(name)
            if queue:
                step = queue.pop(0)
                if isinstance(step, Exception):
                    raise step
                if callable(step):
                    return step(real, kwargs)
            return real(**kwargs)

        return call


@pytest.fixture
def recorded(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, Recorder]:
    """Every securityhub client scangate builds is a Recorder over moto; sleeps are skipped."""
    from scangate.aws import clients

    made: dict[str, Recorder] = {}
    real_client = clients.client

    def client(service: str, region: str | None = None, **kwargs: Any) -> Any:
        built = real_client(service, region, **kwargs)
        if service != "securityhub":
            return built
        made.setdefault("securityhub", Recorder(built))
        return made["securityhub"]

    monkeypatch.setattr(clients, "client", client)
    monkeypatch.setattr(retry, "_sleep", lambda _s: None)
    return made


def test_cli_import_uses_batches_of_100_and_survives_throttling(
    recorded: dict[str, Recorder], cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from scangate.aws import clients

    real_client = clients.client

    def with_faults(service: str, region: str | None = None, **kwargs: Any) -> Any:
        built = real_client(service, region, **kwargs)
        if service == "securityhub":
            assert kwargs["botocore_retries"] is False, "scangate retries Security Hub itself"
            built.inject["batch_import_findings"] = [None, throttle(), None, throttle()]
        return built

    monkeypatch.setattr(clients, "client", with_faults)
    path = reports.write(tmp_path / "r.json", reports.report(reports.many(1000)))
    assert cli(["securityhub", "--report", path]) == 0
    calls = [k for n, k in recorded["securityhub"].calls if n == "batch_import_findings"]
    assert [len(k["Findings"]) for k in calls] == [100] * 12
    assert "ThrottlingException, retrying (1/7)" in capsys.readouterr().err
    stored = boto3.client("securityhub").get_paginator("get_findings").paginate()
    ids = [f["Id"] for page in stored for f in page["Findings"]]
    assert len(ids) == len(set(ids)) == 1000


def test_cli_partial_failures_are_retried_or_listed_and_exit_2(
    recorded: dict[str, Recorder], cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from scangate.aws import clients

    real_client = clients.client
    path = reports.write(tmp_path / "r.json", reports.report(reports.many(250)))

    def drop_some(code: str, every: int) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
        """Send all but every n-th finding to moto and answer 200 with those as failed."""
        def step(real: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            batch = kwargs["Findings"]
            failed = batch[::every]
            kept = [r for r in batch if r not in failed]
            response = real(Findings=kept) if kept else {"SuccessCount": 0}
            return {"SuccessCount": response["SuccessCount"], "FailedCount": len(failed),
                    "FailedFindings": [{"Id": r["Id"], "ErrorCode": code,
                                        "ErrorMessage": f"{code} for this one"} for r in failed]}
        return step

    def with_faults(service: str, region: str | None = None, **kwargs: Any) -> Any:
        built = real_client(service, region, **kwargs)
        if service == "securityhub":
            built.inject["batch_import_findings"] = [
                drop_some("InternalFailure", 10), drop_some("InvalidInput", 50),
                drop_some("InvalidInput", 50),
            ]
        return built

    monkeypatch.setattr(clients, "client", with_faults)
    assert cli(["securityhub", "--report", path]) == 2
    err = capsys.readouterr().err
    stored = {f["Id"] for page in boto3.client("securityhub").get_paginator("get_findings")
              .paginate() for f in page["Findings"]}
    listed = {line.split("not imported: ", 1)[1].split(": ", 1)[0]
              for line in err.splitlines() if "not imported: " in line}
    expected = {r["Id"] for r in records(250)}
    assert len(listed) == 2 + 1  # every 50th of the second (100) and third (50) batches
    assert stored | listed == expected and not stored & listed, "each imported or named"
    assert "3 of 250 findings not imported" in err
    assert "InvalidInput: InvalidInput for this one" in err


def test_archive_sends_the_filter_and_applies_it_client_side(
    recorded: dict[str, Recorder], cli: Cli, tmp_path: Path,
) -> None:
    path = reports.write(tmp_path / "r.json", reports.report(reports.many(120)))
    other = reports.write(tmp_path / "o.json", reports.report(
        reports.many(30), repo=reports.ECR_REPO.replace("team/app", "team/other")))
    assert cli(["securityhub", "--report", path, "--report", other]) == 0
    smaller = reports.write(tmp_path / "s.json", reports.report(reports.many(100)))
    assert cli(["securityhub", "--report", smaller, "--archive-missing"]) == 0
    gets = [k for n, k in recorded["securityhub"].calls if n == "get_findings"]
    resource = f"arn:aws:ecr:us-east-1:123456789012:repository/team/app/{reports.DIGEST}"
    assert gets[0]["Filters"] == active_filters(PRODUCT, resource) == {
        "ProductArn": [{"Value": PRODUCT, "Comparison": "EQUALS"}],
        "ResourceId": [{"Value": resource, "Comparison": "EQUALS"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
        "GeneratorId": [{"Value": "scangate/", "Comparison": "PREFIX"}],
    }
    assert all(k["MaxResults"] == 100 for k in gets)
    # moto ignored the filter and paged through all 150; only team/app's 20 were archived.
    assert len(gets) == 2 and gets[1]["NextToken"]
    found = [f for page in boto3.client("securityhub").get_paginator("get_findings").paginate()
             for f in page["Findings"]]
    archived = [f for f in found if f["RecordState"] == "ARCHIVED"]
    assert len(archived) == 20
    assert {f["Resources"][0]["Id"] for f in archived} == {resource}


def test_active_findings_client_side_filter_and_token_loop() -> None:
    mine = {"Id": "scangate/a/1", "GeneratorId": "scangate/trivy/vulnerability/CVE-1",
            "ProductArn": PRODUCT, "RecordState": "ACTIVE", "Resources": [{"Id": "res"}]}
    others = [
        {**mine, "Id": "scangate/a/2", "RecordState": "ARCHIVED"},
        {**mine, "Id": "scangate/a/3", "Resources": [{"Id": "other"}]},
        {**mine, "Id": "scangate/a/4", "ProductArn": "arn:aws:securityhub:x"},
        {**mine, "Id": "tool/5", "GeneratorId": "tool/rule"},
    ]

    class Pages:
        def __init__(self, pages: list[dict[str, Any]]) -> None:
            self.pages = pages

        def get_findings(self, **kwargs: Any) -> dict[str, Any]:
            return self.pages.pop(0)

    pages = Pages([{"Findings": others[:2], "NextToken": "t1"},
                   {"Findings": [mine, *others[2:]], "NextToken": ""}])
    assert active_findings(pages, PRODUCT, "res", no_sleep()) == [mine]
    looping = Pages([{"Findings": [], "NextToken": "t"}, {"Findings": [], "NextToken": "t"}])
    with pytest.raises(AwsError, match="same NextToken"):
        active_findings(looping, PRODUCT, "res", no_sleep())
