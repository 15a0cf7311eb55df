"""Run by `mlship verify` in a fresh plain interpreter: `python -m mlship.notebook.runner ARGS OUT`.

Trains the generated project into a temporary directory, then scores the notebook's new records
through the serving Pipeline (the same path as `mlship predict` and the service): as one batch and
as single records. Writes predictions and metrics as JSON. Imports only mlship.serving.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile

SINGLES = 1000  # records scored one at a time: every holdout row verify has, up to this many


def main(args: dict, out: str) -> None:
    import pandas as pd

    from mlship.serving.pipeline import Pipeline, RuntimeSpec, resolve

    train = resolve(args["entrypoints"]["train"], args["source"])
    with tempfile.TemporaryDirectory(prefix="mlship-verify-artifacts-") as artifacts:
        with contextlib.redirect_stdout(sys.stderr):  # the project's prints are not the result
            metrics = train(args["data"], artifacts, dict(args["params"])) or {}
        spec = RuntimeSpec(
            name=args["name"],
            version=args["version"],
            source_dir=args["source"],
            artifact_dir=artifacts,
            entrypoints=args["entrypoints"],
        )
        pipeline = Pipeline(spec)
        path = args["predict"]
        raw = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
        predictions = pipeline.predict_frame(raw)
        singles = {}
        for row in range(min(len(raw), SINGLES)):
            singles[row] = pipeline.predict_frame(raw.iloc[[row]].reset_index(drop=True))[0]
    result = {
        "predictions": predictions,
        "singles": singles,
        "metrics": {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
    }
    with open(out, "w") as handle:
        json.dump(result, handle, default=str)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]), sys.argv[2])
