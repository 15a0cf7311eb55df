# ruff: noqa: E501  (notebook cell sources are kept on one line each, as a reader sees them)
"""Write the example notebooks and their small data files, deterministically.

    python examples/notebooks/build.py      # rewrites data/*.csv and *.ipynb next to this file

Each notebook is a different kind of input for `mlship init --from` (see README.md here).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def _write(frame: pd.DataFrame, name: str) -> None:
    (HERE / "data").mkdir(exist_ok=True)
    frame.to_csv(HERE / "data" / name, index=False, float_format="%.4g")


def make_data() -> None:
    rng = np.random.default_rng(20240501)
    # customers: churn classification
    n = 320
    contract = rng.choice(["monthly", "yearly", "two_year"], n, p=[0.5, 0.3, 0.2])
    tenure = rng.integers(1, 72, n)
    charges = rng.uniform(20, 120, n).round(2)
    calls = rng.poisson(1.5, n)
    logit = -1.0 + 0.03 * charges - 0.05 * tenure + 0.6 * calls - 1.2 * (contract != "monthly")
    churned = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(dict(tenure=tenure, monthly_charges=charges, contract=contract, support_calls=calls))
    _write(frame.assign(churned=churned).iloc[:300], "customers.csv")
    _write(frame.iloc[300:], "new_customers.csv")

    # houses: regression with pandas feature engineering and one-hot encoding
    n = 260
    city = rng.choice(["lyon", "nantes", "paris", "lille"], n)
    area = rng.uniform(25, 180, n).round(1)
    rooms = np.clip((area / 25 + rng.normal(0, 1, n)).round(), 1, 8).astype(int)
    year = rng.integers(1900, 2022, n)
    garden = rng.integers(0, 2, n)
    base = {"lyon": 4500, "nantes": 3800, "paris": 10500, "lille": 3300}
    price = area * np.vectorize(base.get)(city) * (1 - (2024 - year) / 600) * (1 + 0.08 * garden)
    price = (price * rng.lognormal(0, 0.08, n)).round(-2)
    frame = pd.DataFrame(dict(area=area, rooms=rooms, year_built=year, city=city, has_garden=garden))
    _write(frame.assign(price=price).iloc[:240], "houses.csv")
    _write(frame.iloc[240:].assign(city=["paris"] * 10 + list(city[250:])), "new_houses.csv")

    # demand: gradient boosting, weekday effects
    n = 300
    days = rng.choice(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], n)
    price = rng.uniform(2, 12, n).round(2)
    promo = rng.integers(0, 2, n)
    temp = rng.normal(18, 8, n).round(1)
    demand = 120 - 7 * price + 25 * promo + 15 * np.isin(days, ["sat", "sun"]) - 0.8 * np.abs(temp - 21)
    demand = np.clip(demand + rng.normal(0, 6, n), 0, None).round()
    frame = pd.DataFrame(dict(price=price, promo=promo, day_of_week=days, temperature=temp))
    _write(frame.assign(demand=demand).iloc[:280], "demand.csv")
    _write(frame.iloc[280:], "demand_new.csv")

    # sensors: fault classification with string labels
    n = 240
    vibration = rng.gamma(2.0, 1.5, n).round(3)
    temperature = rng.normal(60, 10, n).round(2)
    load = rng.uniform(0, 1, n).round(3)
    fault = (vibration * 0.8 + (temperature - 60) * 0.08 + load * 2 + rng.normal(0, 0.8, n)) > 3.5
    frame = pd.DataFrame(dict(vibration=vibration, temperature=temperature, load=load))
    _write(frame.assign(status=np.where(fault, "fault", "ok")).iloc[:220], "sensors.csv")
    _write(frame.iloc[220:], "sensors_new.csv")

    # readings: missing values and unlabeled rows, cleaned in place
    n = 260
    pressure = rng.uniform(1, 5, n).round(3)
    flow = rng.uniform(0.5, 3, n).round(3)
    temp = rng.normal(40, 5, n).round(2)
    failed = ((pressure / flow) + rng.normal(0, 0.5, n) > 3).astype(float)
    temp[rng.choice(n - 20, 12, replace=False)] = np.nan
    failed[rng.choice(n - 20, 10, replace=False)] = np.nan
    frame = pd.DataFrame(
        dict(sensor_id=[f"s{i:03d}" for i in range(n)], temperature=temp, pressure=pressure, flow=flow)
    )
    _write(frame.assign(failed=failed).iloc[:240], "readings.csv")
    _write(frame.iloc[240:], "readings_new.csv")

    # claims: no scoring cell at all; some rows have gaps (after the first 20)
    n = 250
    age = rng.integers(18, 65, n)
    bmi = rng.normal(28, 5, n).round(1)
    smoker = rng.choice(["yes", "no"], n, p=[0.2, 0.8])
    region = rng.choice(["north", "south", "east", "west"], n)
    charges = 2000 + 250 * age + 300 * np.maximum(bmi - 25, 0) + 20000 * (smoker == "yes")
    charges = (charges * rng.lognormal(0, 0.1, n)).round(2)
    bmi[rng.choice(np.arange(20, n), 8, replace=False)] = np.nan
    frame = pd.DataFrame(dict(age=age, bmi=bmi, smoker=smoker, region=region))
    _write(frame.assign(charges=charges), "claims.csv")


def code(source: str, tags: list[str] | None = None, count: int | None = None) -> dict:
    return {
        "cell_type": "code",
        "execution_count": count,
        "metadata": {"tags": tags} if tags else {},
        "outputs": [],
        "source": source.strip("\n"),
    }


def md(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source.strip("\n")}


def notebook(cells: list[dict]) -> dict:
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _with_ids(nb: dict, stem: str) -> dict:
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"{stem[:20]}-{i:03d}"
    return nb


CHURN = [  # tagged cells (papermill `parameters`), a scikit-learn Pipeline, a postprocess step
    md("# Churn: who should the retention team call?"),
    code('DATA = "data/customers.csv"\nTEST_SIZE = 0.25\nSEED = 7\nTHRESHOLD = 0.4', ["parameters"]),
    code(
        "import numpy as np\nimport pandas as pd\nfrom sklearn.compose import ColumnTransformer\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.metrics import accuracy_score, roc_auc_score\n"
        "from sklearn.model_selection import train_test_split\n"
        "from sklearn.pipeline import Pipeline\nfrom sklearn.preprocessing import OneHotEncoder, StandardScaler",
        ["imports"],
    ),
    code(
        'customers = pd.read_csv(DATA)\nX = customers.drop(columns=["churned"])\ny = customers["churned"]',
        ["preprocess"],
    ),
    code("customers.describe()"),
    code(
        "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=TEST_SIZE, random_state=SEED, stratify=y)\n"
        "model = Pipeline([\n"
        '    ("columns", ColumnTransformer([\n'
        '        ("numbers", StandardScaler(), ["tenure", "monthly_charges", "support_calls"]),\n'
        '        ("contract", OneHotEncoder(handle_unknown="ignore"), ["contract"]),\n'
        "    ])),\n"
        '    ("classifier", LogisticRegression(C=0.5, max_iter=500)),\n'
        "])\nmodel.fit(X_train, y_train)",
        ["train"],
    ),
    code(
        "probability = model.predict_proba(X_test)[:, 1]\nauc = roc_auc_score(y_test, probability)\n"
        "accuracy = accuracy_score(y_test, probability > THRESHOLD)\n"
        'print(f"AUC {auc:.3f}  accuracy {accuracy:.3f}")',
        ["evaluate"],
    ),
    code(
        'new_customers = pd.read_csv("data/new_customers.csv")\n'
        "churn_probability = model.predict_proba(new_customers)[:, 1]",
        ["predict"],
    ),
    code('action = np.where(churn_probability > THRESHOLD, "call", "wait")\naction[:5]', ["postprocess"]),
]

HOUSES = [  # untagged: markdown headings; pandas feature engineering; get_dummies; a fitted scaler
    md("# House prices"),
    code(
        "import numpy as np\nimport pandas as pd\nfrom sklearn.linear_model import Ridge\n"
        "from sklearn.metrics import mean_absolute_error\nfrom sklearn.model_selection import train_test_split\n"
        "from sklearn.preprocessing import StandardScaler"
    ),
    md("## Load and clean the data"),
    code(
        'houses = pd.read_csv("data/houses.csv")\nhouses = houses[houses["area"] > 0].reset_index(drop=True)'
    ),
    code("houses.head()"),
    md("## Feature engineering"),
    code(
        "def add_features(frame):\n"
        '    """Age, area per room, and one column per city."""\n'
        "    out = frame.copy()\n"
        '    out["age"] = 2024 - out["year_built"]\n'
        '    out["area_per_room"] = out["area"] / out["rooms"]\n'
        '    return pd.get_dummies(out.drop(columns=["year_built"]), columns=["city"], dtype=float)\n\n\n'
        'X = add_features(houses.drop(columns=["price"]))\n'
        'y = np.log(houses["price"])\n'
        'numeric = ["area", "rooms", "age", "area_per_room"]'
    ),
    md("## Train the model"),
    code(
        "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)\n"
        "scaler = StandardScaler().fit(X_train[numeric])\n"
        "X_train[numeric] = scaler.transform(X_train[numeric])\n"
        "model = Ridge(alpha=1.0).fit(X_train, y_train)"
    ),
    md("## Evaluate"),
    code(
        "X_test[numeric] = scaler.transform(X_test[numeric])\n"
        "test_prices = np.exp(model.predict(X_test))\n"
        "mae = mean_absolute_error(np.exp(y_test), test_prices)\n"
        'print(f"MAE: {mae:,.0f} EUR")'
    ),
    md("## Score new listings"),
    code(
        'listings = pd.read_csv("data/new_houses.csv")\n'
        "listing_features = add_features(listings)\n"
        "listing_features[numeric] = scaler.transform(listing_features[numeric])\n"
        "estimated_price = np.exp(model.predict(listing_features)).round(-2)"
    ),
    code("listings.assign(estimated_price=estimated_price)"),
]

DEMAND = [  # no tags, no headings: code heuristics; gradient boosting; a helper reading a global
    code(
        "import pandas as pd\nfrom sklearn.ensemble import HistGradientBoostingRegressor\n"
        "from sklearn.metrics import mean_absolute_error"
    ),
    code("COMFORT_TEMPERATURE = 21.0\nWEEKEND = ['sat', 'sun']"),
    code('sales = pd.read_csv("data/demand.csv")'),
    code(
        "def make_features(frame):\n"
        '    feats = frame[["price", "promo", "temperature"]].copy()\n'
        '    feats["temperature_gap"] = (frame["temperature"] - COMFORT_TEMPERATURE).abs()\n'
        '    feats["weekend"] = frame["day_of_week"].isin(WEEKEND).astype(int)\n'
        "    return feats"
    ),
    code('X = make_features(sales)\ny = sales["demand"]\nholdout = sales.index >= 240'),
    code(
        "model = HistGradientBoostingRegressor(max_iter=120, learning_rate=0.1, random_state=42)\n"
        "model.fit(X[~holdout], y[~holdout])"
    ),
    code("mae = mean_absolute_error(y[holdout], model.predict(X[holdout]))\nmae"),
    code('tomorrow = pd.read_csv("data/demand_new.csv")\nforecast = model.predict(make_features(tomorrow))'),
    code("forecast.round(1)"),
]

SENSORS = [  # magics (%matplotlib, %pip, %%time, %time, %config, !shell) and a plot cell
    md("# Sensor faults"),
    code("%matplotlib inline\n%config InlineBackend.figure_format = 'png'\n%pip install -q scikit-learn"),
    code(
        "import matplotlib.pyplot as plt\nimport pandas as pd\nfrom sklearn.ensemble import GradientBoostingClassifier\n"
        "from sklearn.metrics import accuracy_score\nfrom sklearn.model_selection import train_test_split"
    ),
    code("!ls data | head -3"),
    code(
        'sensors = pd.read_csv("data/sensors.csv")\nX = sensors[["vibration", "temperature", "load"]]\ny = sensors["status"]'
    ),
    code(
        "fig, ax = plt.subplots(figsize=(4, 3))\n"
        'ax.scatter(sensors["vibration"], sensors["temperature"], c=(sensors["status"] == "fault"), s=8)\n'
        'ax.set_xlabel("vibration")\nplt.show()'
    ),
    code(
        "%%time\nX_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=1)\n"
        "clf = GradientBoostingClassifier(n_estimators=60, max_depth=2, random_state=1)\nclf.fit(X_train, y_train)"
    ),
    code("%time accuracy = accuracy_score(y_test, clf.predict(X_test))\nprint(accuracy)"),
    code(
        'incoming = pd.read_csv("data/sensors_new.csv")\nstatus = clf.predict(incoming[["vibration", "temperature", "load"]])'
    ),
]

READINGS = [  # Kale-style tags, cells that ran out of order, pandas in-place mutation
    code(
        "import pandas as pd\nfrom sklearn.ensemble import RandomForestClassifier\n"
        "from sklearn.metrics import f1_score",
        ["imports"],
        1,
    ),
    code('readings = pd.read_csv("data/readings.csv")', ["step:load_data"], 2),
    code(
        'readings.drop(columns=["sensor_id"], inplace=True)\n'
        'readings["temperature"] = readings["temperature"].fillna(readings["temperature"].median())\n'
        'readings["ratio"] = readings["pressure"] / readings["flow"]\n'
        'features = ["temperature", "pressure", "flow", "ratio"]',
        None,
        5,
    ),
    code("readings.info()", ["skip"], 3),
    code(
        'readings.dropna(subset=["failed"], inplace=True)\n'
        "forest = RandomForestClassifier(n_estimators=40, max_depth=5, random_state=3)\n"
        'forest.fit(readings[features], readings["failed"])',
        ["step:train"],
        6,
    ),
    code(
        'f1 = f1_score(readings["failed"], forest.predict(readings[features]))\nprint("f1", round(f1, 3))',
        ["step:evaluate"],
        4,
    ),
    code(
        'batch = pd.read_csv("data/readings_new.csv")\n'
        'batch["ratio"] = batch["pressure"] / batch["flow"]\n'
        "failure_risk = forest.predict_proba(batch[features])[:, 1]",
        ["step:predict"],
        7,
    ),
]

CLAIMS = [  # stops at evaluation: no cell scores new data, so serving replays the feature cells
    md("# Insurance charges"),
    code(
        "import pandas as pd\nfrom sklearn.ensemble import GradientBoostingRegressor\n"
        "from sklearn.metrics import r2_score\nfrom sklearn.model_selection import train_test_split\n"
        "from sklearn.preprocessing import StandardScaler"
    ),
    md("## Prepare the data"),
    code('claims = pd.read_csv("data/claims.csv")\nclaims = claims.dropna()\nclaims.shape'),
    code(
        'claims["obese"] = (claims["bmi"] > 30).astype(int)\n'
        'y = claims.pop("charges")\n'
        'X = pd.get_dummies(claims, columns=["smoker", "region"], dtype=float)\n'
        "scaler = StandardScaler()\n"
        'X[["age", "bmi"]] = scaler.fit_transform(X[["age", "bmi"]])'
    ),
    md("## Train the model"),
    code(
        "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=5)\n"
        "model = GradientBoostingRegressor(n_estimators=80, max_depth=3, random_state=5)\n"
        "model.fit(X_train, y_train)"
    ),
    md("## Evaluate"),
    code('r2 = r2_score(y_test, model.predict(X_test))\nprint(f"R2 {r2:.3f}")'),
]

NOTEBOOKS = {
    "churn_tagged_pipeline": CHURN,
    "house_prices_onehot": HOUSES,
    "demand_gradient_boosting": DEMAND,
    "sensor_magics_plots": SENSORS,
    "readings_out_of_order": READINGS,
    "claims_no_scoring_cell": CLAIMS,
}


def main() -> None:
    make_data()
    for stem, cells in NOTEBOOKS.items():
        nb = _with_ids(notebook(cells), stem)
        (HERE / f"{stem}.ipynb").write_text(json.dumps(nb, indent=1) + "\n")


if __name__ == "__main__":
    main()
