import pytest

from {{ cookiecutter.package }} import predict, preprocess, train


def test_model_learns_something(trained):
    metrics, _ = trained
    assert metrics["r2"] > 0.5, metrics


def test_load_then_predict_scores_every_record(trained, raw):
    model = predict.load(str(trained[1]))
    out = predict.predict(model, preprocess.transform(raw.drop(columns=["demand"]), model))
    assert len(out) == len(raw)
    assert (out >= 0).all()


def test_demand_falls_as_price_rises(trained, raw):
    model = predict.load(str(trained[1]))
    record = raw.drop(columns=["demand"]).head(1)
    prices = [2.0, 5.0, 8.0, 11.0]
    grid = record.loc[record.index.repeat(len(prices))].assign(price=prices)
    out = predict.predict(model, preprocess.transform(grid, model))
    assert all(a >= b for a, b in zip(out, out[1:])), out


def test_training_refuses_a_model_whose_demand_rises_with_price(raw, tmp_path):
    # Demand made to climb with price: the fitted price coefficient is positive, so no model is saved.
    rising = raw.assign(demand=raw["demand"] + 40 * raw["price"])
    data = tmp_path / "rising.csv"
    rising.to_csv(data, index=False)
    with pytest.raises(ValueError, match="demand would not fall with price"):
        train.main(str(data), str(tmp_path / "artifacts"), {"target": "demand", "seed": 1})
    assert not (tmp_path / "artifacts" / "model.joblib").exists()
