"""The contract report as JUnit XML (the Ant/Jenkins format that GitHub, GitLab and Jenkins read):
one testcase per check, named after it; failed checks carry every failure message."""

from __future__ import annotations

import datetime as _dt
import socket
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

MESSAGE_LIMIT = 1000


def to_junit(report: Any) -> str:
    counts = report.counts()
    attrs = {
        "tests": str(len(report.checks)),
        "failures": str(counts["failed"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skipped"]),
        "time": f"{report.seconds:.3f}",
    }
    suites = ET.Element("testsuites", {"name": "mlship contract", **attrs})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": f"mlship contract: {report.project}",
            **attrs,
            "timestamp": _dt.datetime.now(_dt.timezone.utc)
            .replace(tzinfo=None)
            .isoformat(timespec="seconds"),
            "hostname": socket.gethostname() or "localhost",
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (("model_version", report.model_version), ("target", report.target)):
        ET.SubElement(properties, "property", {"name": name, "value": str(value)})
    for check in report.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"mlship.contract.{check.kind}",
                "name": check.name,
                "time": f"{check.seconds:.3f}",
            },
        )
        if check.status in ("failed", "error"):
            tag = "failure" if check.status == "failed" else "error"
            element = ET.SubElement(
                case, tag, {"message": _clean(check.summary)[:MESSAGE_LIMIT], "type": check.kind}
            )
            element.text = _clean("\n".join(check.failures or [check.summary]))
        elif check.status == "skipped":
            ET.SubElement(case, "skipped", {"message": _clean(check.summary)})
        if check.metrics:
            out = ET.SubElement(case, "system-out")
            out.text = _clean("\n".join(f"{k}: {v}" for k, v in check.metrics.items()))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters, which a model's error message may hold."""
    return "".join(c if c in "\t\n\r" or ord(c) >= 0x20 else "?" for c in text)


def write_junit(report: Any, path: Path) -> Path:
    from mlship.outfiles import write_text

    return write_text(path, to_junit(report), "--junit")
