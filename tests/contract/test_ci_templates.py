"""The generated project's CI files run check -> test -> build -> deploy to staging -> promote on a tag."""

from __future__ import annotations

import yaml


def _runs(job: dict) -> list[str]:
    return [step["run"] for step in job.get("steps", []) if "run" in step]


def test_github_actions_pipeline_order_and_contract(trained_demand):
    flow = yaml.safe_load((trained_demand / ".github/workflows/mlship.yml").read_text())
    jobs = flow["jobs"]
    assert jobs["test"]["needs"] == "check"
    assert jobs["build"]["needs"] == "test"
    assert jobs["deploy-staging"]["needs"] == "build"
    assert "refs/heads/main" in jobs["build"]["if"]
    assert jobs["promote-prod"]["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert flow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as true
    test_runs = _runs(jobs["test"])
    assert test_runs.index("mlship train") < test_runs.index("mlship test --junit contract.xml")
    assert "mlship check --json > check.json" in _runs(jobs["check"])
    assert "mlship build --env staging --json" in _runs(jobs["build"])
    deploy = _runs(jobs["deploy-staging"])
    assert deploy.index("mlship deploy staging --json") < deploy.index(
        "mlship test --against staging --junit staging.xml"
    )
    assert _runs(jobs["promote-prod"])[-1] == "mlship promote staging prod --json"
    # The image holds the model the test job tested: build downloads it instead of training again.
    assert not any("mlship train" in run for run in _runs(jobs["build"]))


def test_gitlab_pipeline_order_and_junit_reports(trained_demand):
    flow = yaml.safe_load((trained_demand / ".gitlab-ci.yml").read_text())
    assert flow["stages"] == ["check", "test", "build", "deploy", "promote", "monitor", "retrain"]
    assert flow["default"]["image"] == "python:3.11-slim"
    assert "mlship test --junit contract.xml" in flow["test"]["script"]
    assert flow["test"]["artifacts"]["reports"]["junit"] == ["unit.xml", "contract.xml"]
    assert "artifacts/" in flow["test"]["artifacts"]["paths"]
    assert flow["deploy-staging"]["script"][-1] == "mlship test --against staging --junit staging.xml"
    assert flow["promote-prod"]["rules"] == [{"if": "$CI_COMMIT_TAG"}]
    for job in ("build", "deploy-staging"):
        # Not on the monitoring schedule: a scheduled pipeline retrains and offers staging, never builds.
        assert flow[job]["rules"] == [
            {"if": '$CI_COMMIT_BRANCH == "main" && $CI_PIPELINE_SOURCE != "schedule"'}
        ]
