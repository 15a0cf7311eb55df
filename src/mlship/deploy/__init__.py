"""Deploy: registry push/promote by digest, targets (docker, swarm, kubernetes), gate, rollback, history."""
