"""`python -m mlship.serving --spec runtime.json [--host H] [--port P] [--workers N] [--log-dir D]`.

The entry point inside every image. PORT (environment) overrides the port, as platforms that
assign ports expect; MLSHIP_LOG_DIR overrides logging.path; MLSHIP_SPEC may name the spec.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from mlship.serving.pipeline import RuntimeSpec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mlship.serving", description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default=os.environ.get("MLSHIP_SPEC"), help="runtime.json (RuntimeSpec)")
    parser.add_argument("--host", default=None, help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=None, help="port (PORT overrides; default serving.port)")
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default serving.workers)"
    )
    parser.add_argument("--log-dir", default=None, help="prediction log directory (default logging.path)")
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    return parser.parse_args(argv)


def load_spec(path: str) -> RuntimeSpec:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return RuntimeSpec.from_dict(data)
    except (OSError, ValueError, TypeError) as exc:
        raise SystemExit(f"mlship: cannot read the runtime spec {path}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.spec:
        sys.stderr.write("mlship: no runtime spec; pass --spec runtime.json or set MLSHIP_SPEC\n")
        return 2
    spec = load_spec(args.spec)
    port = os.environ.get("PORT")
    if port is not None and not port.isdigit():
        sys.stderr.write(f"mlship: PORT={port!r} is not a port number\n")
        return 2
    from mlship.serving.server import run

    return run(
        spec,
        host=args.host or "0.0.0.0",
        port=int(port) if port else args.port,
        workers=args.workers,
        log_dir=args.log_dir,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    sys.exit(main())
