from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "train.csv"


@pytest.fixture(scope="session")
def raw() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Train once into a temporary directory; returns (metrics, artifact_dir)."""
    from {{ cookiecutter.package }} import train

    out = tmp_path_factory.mktemp("artifacts")
    metrics = train.main(str(DATA), str(out), {"target": "demand", "seed": 1})
    return metrics, out
