"""Small pure parts of deploy: target precedence, label round trip, references, sizes, credentials."""

from __future__ import annotations

import json

import pytest

from mlship import labels
from mlship.config import Environment, parse_config
from mlship.deploy.registry import credentials, repository_ref, split_pinned
from mlship.deploy.state import HISTORY_KEEP, Release, read_labels, release_labels
from mlship.deploy.targets import choose_target
from mlship.deploy.targets.containers import memory_bytes
from mlship.errors import ConfigError, DeployError


def test_target_precedence_flag_then_yaml_then_env_var(monkeypatch):
    monkeypatch.setenv("MLSHIP_TARGET", "swarm")
    assert choose_target(None, Environment()) == "swarm"  # nothing in mlship.yaml: the env var
    assert choose_target(None, Environment(target="docker")) == "docker"  # mlship.yaml beats it
    assert choose_target("kubernetes", Environment(target="docker")) == "kubernetes"  # the flag beats all
    monkeypatch.setenv("MLSHIP_TARGET", "nomad")
    with pytest.raises(ConfigError):
        choose_target(None, Environment())
    monkeypatch.delenv("MLSHIP_TARGET")
    assert choose_target(None, Environment()) == "docker"


def test_environment_target_from_yaml_counts_as_set():
    text = "name: x\nentrypoints: {preprocess: a:b, train: a:b, load: a:b, predict: a:b}\n"
    config = parse_config(text + "environments:\n  dev: {target: docker}\n  qa: {replicas: 2}\n")
    assert "target" in config.environments["dev"].model_fields_set
    assert "target" not in config.environments["qa"].model_fields_set


def test_labels_round_trip_and_history_is_bounded():
    releases = [
        Release(
            version=str(i),
            image=f"r/x@sha256:{i:064x}",
            digest=f"sha256:{i:064x}",
            deployed_at=f"t{i}",
            deployed_by="me",
        )
        for i in range(HISTORY_KEEP + 5)
    ]
    values = release_labels("demo", "dev", releases[-1], releases[:-1])
    assert values[labels.VERSION] == str(HISTORY_KEEP + 4)
    current, history = read_labels(values)
    assert current.image == releases[-1].image and len(history) == HISTORY_KEEP
    assert history[-1].version == current.version
    assert read_labels({}) == (None, [])
    assert read_labels({**values, "io.mlship.history": "not json"})[1] == [current]


def test_references():
    assert split_pinned("127.0.0.1:5000/team/demo@sha256:abc") == (
        "127.0.0.1:5000",
        "team/demo",
        "sha256:abc",
    )
    assert split_pinned("reg.io/demo:1.0") == ("reg.io", "demo", "1.0")
    assert repository_ref("127.0.0.1:5001/team/", "demo") == "127.0.0.1:5001/team/demo"


@pytest.mark.parametrize(
    ("text", "size"), [("512Mi", 512 * 2**20), ("2G", 2 * 10**9), ("1gi", 2**30), ("100", 100)]
)
def test_memory_sizes(text, size):
    assert memory_bytes(text) == size


def test_bad_memory_size():
    with pytest.raises(DeployError):
        memory_bytes("lots")


def test_credentials_from_env_then_docker_config(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("MLSHIP_REGISTRY_USER", raising=False)
    assert credentials("reg.example") is None
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"reg.example": {"auth": "dTpw"}}}))
    assert credentials("reg.example") == {"username": "u", "password": "p"}
    monkeypatch.setenv("MLSHIP_REGISTRY_USER", "ci")
    monkeypatch.setenv("MLSHIP_REGISTRY_PASSWORD", "secret")
    assert credentials("reg.example") == {"username": "ci", "password": "secret"}
