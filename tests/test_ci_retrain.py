"""The generated CI files' retraining loop: scheduled, monitor -> train -> test -> replay -> staging, and
every mlship option they use exists."""

from __future__ import annotations

import os
import re
import shlex

import yaml

from mlship.scaffold import init_project
from tests.support import run_mlship


def _commands(steps: list[str]) -> list[list[str]]:
    """Every `mlship ...` command of the shell steps, as words (up to a ; && || or redirection)."""
    found = []
    for step in steps:
        for line in step.splitlines():
            line = line.split(" #", 1)[0]
            for match in re.finditer(r"(?:^|[;&|]\s*)\s*(mlship [^;&|>]*)", line.strip()):
                found.append(shlex.split(match.group(1)))
    return found


def _check_options(commands: list[list[str]]) -> None:
    helps: dict[str, str] = {}
    for words in commands:
        name = words[1]
        if name not in helps:
            done = run_mlship(name, "--help", env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
            assert done.returncode == 0, done.stderr
            helps[name] = done.stdout
        for option in (w for w in words if w.startswith("--")):
            assert option in helps[name], (name, option)


def test_github_actions_has_a_scheduled_loop_that_ends_at_staging(tmp_path):
    init_project(directory=tmp_path / "p", no_input=True)
    flow = yaml.safe_load((tmp_path / "p" / ".github" / "workflows" / "mlship.yml").read_text())
    triggers = flow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"][0]["cron"] and "workflow_dispatch" in triggers
    jobs = flow["jobs"]
    assert "schedule" in jobs["monitor-prod"]["if"] and "schedule" in jobs["check"]["if"]
    retrain = [s["run"] for s in jobs["retrain"]["steps"] if "run" in s]
    order = [
        next(i for i, r in enumerate(retrain) if r.startswith(f"mlship {c}"))
        for c in ("train", "test", "replay")
    ]
    assert order == sorted(order)
    assert jobs["retrain"]["if"] == "needs.monitor-prod.outputs.retrain == 'true'"
    deploy = jobs["deploy-candidate-staging"]
    assert deploy["environment"] == "staging" and deploy["needs"] == "retrain"
    loop = [
        s.get("run", "")
        for name in ("monitor-prod", "retrain", "deploy-candidate-staging")
        for s in jobs[name]["steps"]
    ]
    commands = _commands(loop)
    assert not any(w[1] == "promote" for w in commands)
    assert all(w[2:3] != ["prod"] for w in commands if w[1] == "deploy")  # never straight to prod
    assert commands[1][:4] == ["mlship", "monitor", "--env", "prod"]
    _check_options(commands)


def test_gitlab_ci_has_the_same_loop_for_scheduled_pipelines(tmp_path):
    init_project(directory=tmp_path / "p", no_input=True)
    ci = yaml.safe_load((tmp_path / "p" / ".gitlab-ci.yml").read_text())
    for name in ("check", "test", "build", "deploy-staging"):
        assert all("schedule" in rule["if"] and "!=" in rule["if"] for rule in ci[name]["rules"]), name
    for name in ("monitor-prod", "retrain", "deploy-candidate-staging"):
        assert ci[name]["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "schedule"', name
        assert all(isinstance(line, str) for line in ci[name]["script"]), name  # no stray `key: value`
    assert ci["deploy-candidate-staging"]["rules"][0]["when"] == "manual"
    assert ci["deploy-candidate-staging"]["environment"] == "staging"
    assert ci["monitor-prod"]["artifacts"]["reports"]["dotenv"] == "monitor.env"
    commands = _commands(
        [*ci["monitor-prod"]["script"], *ci["retrain"]["script"], *ci["deploy-candidate-staging"]["script"]]
    )
    assert [w[1] for w in commands] == [
        "train",
        "monitor",
        "train",
        "test",
        "replay",
        "build",
        "deploy",
        "test",
    ]
    assert all(w[2:3] != ["prod"] for w in commands if w[1] == "deploy")
    _check_options(commands)
