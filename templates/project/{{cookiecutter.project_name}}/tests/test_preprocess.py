import pandas as pd
import pytest

from {{ cookiecutter.package }} import preprocess


def test_features_have_fixed_columns_and_no_gaps(raw):
    state = preprocess.fit(raw)
    features = preprocess.apply(raw, state)
    assert not features.isna().any().any()
    assert len(features) == len(raw)
    # One column per numeric field and per category seen in training.
    expected = len(preprocess.NUMERIC) + sum(len(v) for v in state["categories"].values())
    assert features.shape[1] == expected


def test_a_single_record_gets_the_training_columns(raw):
    state = preprocess.fit(raw)
    one = preprocess.apply(raw.head(1), state)
    assert list(one.columns) == list(preprocess.apply(raw, state).columns)


def test_unseen_category_is_all_zero_not_an_error(raw):
    state = preprocess.fit(raw)
    record = raw.head(1).assign(store="unknown-store")
    row = preprocess.apply(record, state).iloc[0]
    assert all(row[f"store={c}"] == 0.0 for c in state["categories"]["store"])


def test_missing_field_is_a_clear_error(raw):
    state = preprocess.fit(raw)
    with pytest.raises(KeyError, match="price"):
        preprocess.apply(raw.drop(columns=["price"]), state)


def test_missing_temperature_is_filled_with_the_training_median(raw):
    state = preprocess.fit(raw)
    record = pd.DataFrame([{**raw.iloc[0].to_dict(), "temperature": None}])
    assert preprocess.apply(record, state)["temperature"].iloc[0] == state["fill"]["temperature"]


def test_a_record_without_the_optional_temperature_is_scored(raw):
    state = preprocess.fit(raw)
    features = preprocess.apply(raw.drop(columns=["temperature"]).head(3), state)
    assert (features["temperature"] == state["fill"]["temperature"]).all()


def test_a_bad_number_is_an_error_that_names_the_field(raw):
    state = preprocess.fit(raw)
    with pytest.raises(ValueError, match="price must be a number"):
        preprocess.apply(raw.head(1).assign(price="cheap"), state)


@pytest.mark.parametrize("value", [1e13, -1e308, float("inf")])
def test_a_number_too_large_to_be_real_is_an_error_that_names_the_field(raw, value):
    state = preprocess.fit(raw)
    with pytest.raises(ValueError, match="temperature must be a number between -1e\\+12 and 1e\\+12"):
        preprocess.apply(raw.head(2).assign(temperature=value), state)
