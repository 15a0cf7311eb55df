"""Kubernetes manifests rendered for real and validated offline against the Kubernetes JSON schemas.

No cluster exists here: what is tested is the manifests (kubernetes-validate, strict, bundled
schemas) and that a missing kubectl is a clear exit 3. Applying and `rollout status` are not run.
"""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from mlship.config import Environment, Gate, Resources
from mlship.deploy.state import Release
from mlship.deploy.targets.base import Context
from mlship.deploy.targets.kubernetes import KubernetesTarget
from mlship.errors import UnreachableError

DIGEST = "sha256:" + "ab" * 32
RELEASE = Release(
    version="1.2.0",
    image=f"registry.example:5000/demo@{DIGEST}",
    digest=DIGEST,
    model_sha256="f" * 64,
    deployed_at="2025-01-01T00:00:00Z",
    deployed_by="ci",
    strategy="canary",
)
K8S_VERSIONS = ["1.28", "1.32"]


def target(**env) -> KubernetesTarget:
    environment = Environment(target="kubernetes", registry="registry.example:5000", **env)
    return KubernetesTarget(
        Context(project="demo", environment="prod", env=environment, container_port=8080, examples=[])
    )


def docs(manifests: list[str]) -> list[dict]:
    return [yaml.safe_load(m) for m in manifests]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("strategy", ["rolling", "recreate", "canary"])
@pytest.mark.parametrize("gpus", [0, 2])
def test_manifests_validate_strictly(version, strategy, gpus):
    t = target(
        replicas=4,
        resources=Resources(cpu=0.5, memory="1Gi", gpus=gpus),
        namespace="ml",
        node_selector={"pool": "inference"},
    )
    for track in ("stable", "canary"):
        for doc in docs(t.render(RELEASE, strategy, [], track=track)):
            kubernetes_validate.validate(doc, version, strict=True)


def test_deployment_carries_probe_gpu_and_release_annotations():
    t = target(replicas=4, resources=Resources(gpus=1), gate=Gate(readiness_timeout=30))
    deployment, service = docs(t.render(RELEASE, "rolling", []))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == RELEASE.image
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert deployment["spec"]["template"]["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    annotations = deployment["metadata"]["annotations"]
    assert annotations["io.mlship.image-digest"] == DIGEST and annotations["io.mlship.version"] == "1.2.0"
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "mlship-demo-prod"}


def test_canary_is_a_second_deployment_with_a_replica_weight():
    t = target(replicas=10, canary_weight=20)
    canary = docs(t.render(RELEASE, "canary", [], track="canary"))[0]
    stable = docs(t.render(RELEASE, "canary", []))[0]
    assert canary["metadata"]["name"] == "mlship-demo-prod-canary" and canary["spec"]["replicas"] == 2
    assert stable["spec"]["replicas"] == 10
    assert canary["spec"]["selector"]["matchLabels"]["mlship.io/track"] == "canary"
    # Both tracks match the Service's selector, so traffic splits by ready pods.
    for d in (canary, stable):
        assert d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "mlship-demo-prod"


def test_a_broken_manifest_is_caught_by_the_validator():
    deployment = docs(target().render(RELEASE, "rolling", []))[0]
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.32", strict=True)


def test_missing_kubectl_is_unreachable(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UnreachableError) as caught:
        target().state()
    assert caught.value.exit_code == 3 and "kubectl" in caught.value.message
