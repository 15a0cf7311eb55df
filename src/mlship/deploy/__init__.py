"""Deploy: registry push/promote by digest, targets (docker, swarm, kubernetes), gate, rollback, history."""

from mlship.deploy.core import service_url

__all__ = ["service_url"]
