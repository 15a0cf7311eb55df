"""The local deploy journal in .mlship/: a cache of what this machine did, never the source of truth.

The target's labels are the truth; the journal adds what labels cannot hold - attempts that
failed (with the reason) - and lets `history` show them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlship.deploy.state import Release, now_iso

JOURNAL = "deployments.jsonl"


def record(
    state_dir: Path, environment: str, target: str, release: Release, result: str, reason: str | None = None
) -> None:
    entry = {"ts": now_iso(), "environment": environment, "target": target, **release.to_dict()}
    entry["result"] = result
    if reason:
        entry["reason"] = reason
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        with (state_dir / JOURNAL).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
    except OSError:
        pass  # a cache that cannot be written must not fail a deploy that succeeded


def read(state_dir: Path, environment: str) -> list[dict[str, Any]]:
    try:
        lines = (state_dir / JOURNAL).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    entries = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a torn line from an interrupted write
        if isinstance(item, dict) and item.get("environment") == environment:
            entries.append(item)
    return entries
