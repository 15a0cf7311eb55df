# ruff: noqa: E501  (notebook cell sources are written as their authors would, long lines included)
"""Write the notebook corpus and its small data files, deterministically.

    python tests/notebook/corpus/build.py     # rewrites data/, *.ipynb and corpus.json next to this file

Nineteen notebooks, each modelling the style of a kind of public notebook (Kaggle starter, Colab
tutorial, a heavy pandas kernel, ...) and exercising one issue class of `mlship init --from`;
`corpus.json` says, per notebook, which data files it reads, what its records are and what
`tests/notebook/test_nb_corpus.py` expects (a service, or a refusal naming the cell and the fix).
See README.md here.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def _write(frame: pd.DataFrame, name: str) -> None:
    path = DATA / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.4g")


def _rng(name: str) -> np.random.Generator:
    # One generator per data set, seeded from its name: changing one data set leaves the others as they are.
    return np.random.default_rng(sum(ord(ch) * (i + 1) for i, ch in enumerate(name)) + 20240601)


# ---------------------------------------------------------------------------------------------- data


def titanic_data() -> None:
    rng = _rng("titanic")
    n = 1000
    sex = rng.choice(["male", "female"], n, p=[0.65, 0.35])
    male_titles = rng.choice(["Mr", "Master", "Dr", "Rev", "Col"], n, p=[0.85, 0.09, 0.03, 0.02, 0.01])
    female_titles = rng.choice(["Miss", "Mrs", "Dr"], n, p=[0.5, 0.48, 0.02])
    title = np.where(sex == "male", male_titles, female_titles)
    centre = pd.Series(title).map({"Mr": 32, "Master": 6, "Miss": 22, "Mrs": 36}).fillna(48).to_numpy()
    age = np.clip(rng.normal(centre, np.where(title == "Master", 3, 11)), 0.5, 80).round()
    pclass = rng.choice([1, 2, 3], n, p=[0.24, 0.21, 0.55])
    surnames = [
        "Braund",
        "Cumings",
        "Heikkinen",
        "Futrelle",
        "Allen",
        "Moran",
        "McCarthy",
        "Palsson",
        "Johnson",
        "Nasser",
        "Sandstrom",
        "Bonnell",
        "Saundercock",
        "Andersson",
        "Vestrom",
        "Hewlett",
        "Rice",
        "Williams",
        "Vander Planke",
        "Masselmani",
        "Fynney",
        "Beesley",
        "McGowan",
        "Sloper",
        "Asplund",
        "Emir",
        "Fortune",
        "O'Dwyer",
        "Todoroff",
        "Uruchurtu",
    ]
    firsts = [
        "Owen Harris",
        "John Bradley",
        "Laina",
        "Jacques Heath",
        "William Henry",
        "James",
        "Timothy J",
        "Gosta Leonard",
        "Oscar W",
        "Nicholas",
        "Marguerite Rut",
        "Elizabeth",
        "William Henry",
        "Anders Johan",
        "Hulda Amanda",
        "Mary D",
        "Eugene",
        "Charles Eugene",
        "Julius",
        "Fatima",
        "Joseph J",
        "Lawrence",
        "Anna",
        "William Thompson",
        "Carl Oscar",
        "Farred Chehab",
        "Charles Alexander",
        "Ellen",
        "Lalio",
        "Manuel E",
    ]
    name = [f"{rng.choice(surnames)}, {t}. {rng.choice(firsts)}" for t in title]
    sibsp = rng.poisson(0.5, n)
    parch = rng.poisson(0.4, n)
    fare = (np.exp(pd.Series(pclass).map({1: 4.1, 2: 3.0, 3: 2.1}).to_numpy() + rng.normal(0, 0.4, n))).round(
        2
    )
    cabin = np.where(
        rng.uniform(size=n) < np.where(pclass == 1, 0.7, 0.05),
        [f"{rng.choice(list('ABCDE'))}{rng.integers(2, 130)}" for _ in range(n)],
        None,
    )
    embarked = rng.choice(["S", "C", "Q"], n, p=[0.72, 0.19, 0.09]).astype(object)
    ticket = [
        f"{rng.choice(['', 'A/5 ', 'PC ', 'STON/O2. ', 'CA '])}{rng.integers(1000, 400000)}" for _ in range(n)
    ]
    logit = (
        -0.9
        + 2.4 * (sex == "female")
        + 1.0 * (pclass == 1)
        + 0.4 * (pclass == 2)
        - 0.02 * (age - 30)
        + 1.2 * (title == "Master")
        - 0.2 * sibsp
    )
    survived = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    age[rng.choice(n, 190, replace=False)] = np.nan
    embarked[[61, 629]] = None
    frame = pd.DataFrame(
        dict(
            PassengerId=np.arange(1, n + 1),
            Survived=survived,
            Pclass=pclass,
            Name=name,
            Sex=sex,
            Age=age,
            SibSp=sibsp,
            Parch=parch,
            Ticket=ticket,
            Fare=fare,
            Cabin=cabin,
            Embarked=embarked,
        )
    )
    _write(frame.iloc[:700], "titanic/train.csv")
    _write(frame.iloc[700:].drop(columns="Survived"), "titanic/test.csv")


def house_prices_data() -> None:
    rng = _rng("house_prices")
    n = 700
    hood = rng.choice(["NAmes", "CollgCr", "OldTown", "Edwards", "Somerst", "NridgHt"], n)
    zoning = rng.choice(["RL", "RM", "FV", "C (all)"], n, p=[0.78, 0.15, 0.05, 0.02])
    grliv = np.round(np.exp(rng.normal(7.27, 0.33, n)))
    grliv[[40, 333, 512]] = [4476, 4676, 5642]  # the famous outliers: huge and cheap
    lot = np.round(np.exp(rng.normal(9.1, 0.5, n)))
    frontage = rng.normal(70, 20, n).clip(21, 200).round()
    frontage[rng.choice(n, 110, replace=False)] = np.nan
    qual = np.clip(rng.normal(6, 1.4, n).round(), 1, 10).astype(int)
    year = rng.integers(1880, 2010, n)
    bsmt = (grliv * rng.uniform(0.5, 1.1, n)).round()
    cars = np.clip(rng.poisson(1.8, n), 0, 4)
    garage = np.where(cars > 0, cars * rng.normal(260, 40, n), 0).round()
    garage[rng.choice(n, 6, replace=False)] = np.nan
    bonus = (
        pd.Series(hood)
        .map({"NAmes": 0, "CollgCr": 0.1, "OldTown": -0.15, "Edwards": -0.2, "Somerst": 0.15, "NridgHt": 0.3})
        .to_numpy()
    )
    log_price = (
        10.4
        + 0.55 * np.log(grliv)
        + 0.09 * qual
        + 0.002 * (year - 1950)
        + 0.05 * cars
        + bonus
        + rng.normal(0, 0.1, n)
    )
    price = np.exp(log_price).round(-2)
    price[[40, 333, 512]] = [184750, 160000, 167500]
    frame = pd.DataFrame(
        dict(
            Id=np.arange(1, n + 1),
            MSZoning=zoning,
            Neighborhood=hood,
            LotFrontage=frontage,
            LotArea=lot,
            OverallQual=qual,
            YearBuilt=year,
            TotalBsmtSF=bsmt,
            GrLivArea=grliv,
            GarageCars=cars,
            GarageArea=garage,
            SalePrice=price,
        )
    )
    _write(frame, "house_prices.csv")


def telco_data() -> None:
    rng = _rng("telco")
    n = 640
    tenure = rng.integers(0, 73, n)
    tenure[rng.choice(n, 9, replace=False)] = 0
    internet = rng.choice(["DSL", "Fiber optic", "No"], n, p=[0.35, 0.44, 0.21])
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.21, 0.24])
    monthly = (
        (20 + 30 * (internet == "DSL") + 55 * (internet == "Fiber optic") + rng.normal(0, 8, n))
        .clip(18, 119)
        .round(2)
    )
    total = np.where(
        tenure == 0, " ", [f"{v:.2f}" for v in monthly * np.maximum(tenure, 1) * rng.uniform(0.95, 1.05, n)]
    )
    logit = (
        -1.2
        + 0.9 * (contract == "Month-to-month")
        - 0.04 * tenure
        + 0.8 * (internet == "Fiber optic")
        + 0.01 * monthly
    )
    churn = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-logit)), "Yes", "No")
    frame = pd.DataFrame(dict(
        customerID=[f"{rng.integers(1000, 9999)}-{''.join(rng.choice(list('ABCDEFGHJKLMNPQRSTUVWXYZ'), 5))}" for _ in range(n)],
        gender=rng.choice(["Female", "Male"], n), SeniorCitizen=(rng.uniform(size=n) < 0.16).astype(int),
        Partner=rng.choice(["Yes", "No"], n), tenure=tenure, PhoneService=rng.choice(["Yes", "No"], n, p=[0.9, 0.1]),
        InternetService=internet, Contract=contract,
        PaymentMethod=rng.choice(["Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)"], n),
        MonthlyCharges=monthly, TotalCharges=total, Churn=churn,
    ))  # fmt: skip
    _write(frame, "telco_churn.csv")


def diabetes_data() -> None:
    rng = _rng("diabetes")
    n = 768
    glucose = rng.normal(121, 30, n).clip(44, 199).round()
    bmi = rng.normal(32.4, 6.9, n).clip(18, 67).round(1)
    age = (21 + rng.gamma(2.0, 6.0, n)).clip(21, 81).round()
    pedigree = rng.gamma(2.0, 0.23, n).round(3)
    logit = -8.4 + 0.035 * glucose + 0.09 * bmi + 0.03 * age + 0.9 * pedigree
    outcome = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(dict(
        Pregnancies=rng.poisson(3.8, n), Glucose=glucose, BloodPressure=rng.normal(72, 12, n).clip(24, 122).round(),
        SkinThickness=rng.normal(29, 10, n).clip(7, 99).round(), Insulin=rng.gamma(2.0, 75, n).clip(14, 846).round(),
        BMI=bmi, DiabetesPedigreeFunction=pedigree, Age=age, Outcome=outcome,
    ))  # fmt: skip
    for column, zeros in {
        "Glucose": 5,
        "BloodPressure": 35,
        "SkinThickness": 227,
        "Insulin": 374,
        "BMI": 11,
    }.items():
        frame.loc[rng.choice(n, zeros, replace=False), column] = 0
    _write(frame, "diabetes.csv")


def apartments_data() -> None:
    rng = _rng("apartments")
    n = 600
    area = rng.uniform(18, 160, n).round(1)
    rooms = np.clip((area / 28 + rng.normal(0.5, 0.7, n)).round(), 1, 6).astype(int)
    floor = rng.integers(0, 12, n)
    balcony = rng.integers(0, 2, n)
    year = rng.integers(1900, 2023, n)
    distance = rng.gamma(2.0, 2.5, n).round(2)
    rent = (
        area * (24 - 1.1 * distance).clip(9, None)
        + 60 * balcony
        + 8 * floor
        + 0.8 * (year - 1900)
        + rng.normal(0, 90, n)
    ).round(-1)
    _write(
        pd.DataFrame(
            dict(
                area=area,
                rooms=rooms,
                floor=floor,
                balcony=balcony,
                year_built=year,
                distance_center_km=distance,
                rent=rent,
            )
        ),
        "apartments.csv",
    )


def loans_data() -> None:
    rng = _rng("loans")
    n = 1000
    income = np.round(np.exp(rng.normal(10.8, 0.45, n)), -2)
    amount = np.round(income * rng.uniform(0.05, 0.8, n), -2)
    term = rng.choice([36, 60], n, p=[0.7, 0.3])
    score = rng.normal(680, 60, n).clip(450, 850).round()
    years = rng.integers(0, 30, n)
    purpose = rng.choice(["car", "home", "education", "business", "other"], n)
    logit = (
        -1.0
        + 3.0 * amount / income
        + 0.5 * (term == 60)
        - 0.012 * (score - 680)
        - 0.03 * years
        + 0.6 * (purpose == "business")
    )
    default = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        dict(
            income=income,
            loan_amount=amount,
            term_months=term,
            credit_score=score,
            employment_years=years,
            purpose=purpose,
        )
    )
    _write(frame.assign(default=default).iloc[:700], "loans.csv")
    _write(frame.iloc[700:], "loans_new.csv")


def leads_data() -> None:
    rng = _rng("leads")
    n = 1000
    visits = rng.poisson(3, n) + 1
    time_on_site = rng.gamma(2.0, 90, n).round(1)
    pages = (visits * rng.uniform(1, 4, n)).round().astype(int)
    source = rng.choice(["ads", "organic", "email", "referral"], n, p=[0.4, 0.3, 0.2, 0.1])
    country = rng.choice(["fr", "de", "es", "it", "uk"], n)
    returning = rng.integers(0, 2, n)
    logit = (
        -2.5
        + 0.2 * visits
        + 0.004 * time_on_site
        + 0.9 * (source == "referral")
        + 0.5 * (source == "email")
        + 0.6 * returning
    )
    converted = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        dict(
            visits=visits,
            time_on_site=time_on_site,
            pages_viewed=pages,
            source=source,
            country=country,
            returning=returning,
        )
    )
    _write(frame.assign(converted=converted).iloc[:700], "leads.csv")
    _write(frame.iloc[700:], "leads_new.csv")


def transactions_data() -> None:
    rng = _rng("transactions")
    n = 1100
    amount = np.round(np.exp(rng.normal(3.8, 1.1, n)), 2)
    hour = rng.integers(0, 24, n)
    category = rng.choice(["grocery", "travel", "electronics", "fuel", "restaurant"], n)
    distance = rng.gamma(1.5, 12, n).round(1)
    online = rng.integers(0, 2, n)
    logit = (
        -4.0
        + 0.006 * amount
        + 1.1 * ((hour < 6) | (hour > 22))
        + 0.9 * (category == "electronics")
        + 0.02 * distance
        + 0.7 * online
    )
    fraud = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        dict(amount=amount, hour=hour, merchant_category=category, distance_from_home=distance, online=online)
    )
    _write(frame.assign(fraud=fraud).iloc[:800], "transactions.csv")
    _write(frame.iloc[800:], "transactions_new.csv")


def insurance_data() -> None:
    rng = _rng("insurance")
    n = 800
    age = rng.integers(20, 80, n)
    vehicle_age = rng.choice(["< 1 Year", "1-2 Year", "> 2 Years"], n, p=[0.4, 0.5, 0.1])
    damage = rng.choice(["Yes", "No"], n)
    insured = rng.integers(0, 2, n)
    premium = rng.normal(30000, 12000, n).clip(2630, 90000).round()
    logit = (
        -2.0 + 1.8 * (damage == "Yes") - 2.2 * insured + 0.6 * (vehicle_age != "< 1 Year") + 0.01 * (age - 40)
    )
    response = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(dict(
        gender=rng.choice(["Male", "Female"], n), age=age, driving_license=(rng.uniform(size=n) < 0.98).astype(int),
        region=rng.choice([f"r{i:02d}" for i in range(1, 9)], n), previously_insured=insured, vehicle_age=vehicle_age,
        vehicle_damage=damage, annual_premium=premium, vintage=rng.integers(10, 300, n), response=response,
    ))  # fmt: skip
    _write(frame, "vehicle_insurance.csv")


def wine_data() -> None:
    rng = _rng("wine")
    n = 1100
    alcohol = rng.normal(10.4, 1.0, n).round(2)
    volatile = rng.gamma(4.0, 0.13, n).round(3)
    sulphates = rng.normal(0.65, 0.15, n).clip(0.3, 2).round(3)
    citric = rng.uniform(0, 0.8, n).round(3)
    good = ((alcohol > 10.8) & (volatile < 0.6) | (sulphates > 0.85) & (alcohol > 10)) ^ (
        rng.uniform(size=n) < 0.08
    )
    frame = pd.DataFrame(dict(
        fixed_acidity=rng.normal(8.3, 1.7, n).round(2), volatile_acidity=volatile, citric_acid=citric,
        residual_sugar=rng.gamma(3.0, 0.85, n).round(2), chlorides=rng.gamma(8.0, 0.011, n).round(4),
        ph=rng.normal(3.31, 0.15, n).round(3), sulphates=sulphates, alcohol=alcohol,
    ))  # fmt: skip
    _write(frame.assign(good=good.astype(int)).iloc[:800], "wine_quality.csv")
    _write(frame.iloc[800:], "wine_new.csv")


def heart_data() -> None:
    rng = _rng("heart")
    n = 1000
    age = rng.integers(28, 78, n)
    sex = rng.choice(["M", "F"], n, p=[0.79, 0.21])
    pain = rng.choice(["ASY", "NAP", "ATA", "TA"], n, p=[0.54, 0.22, 0.19, 0.05])
    max_hr = rng.normal(137, 25, n).clip(60, 202).round()
    angina = rng.choice(["Y", "N"], n, p=[0.4, 0.6])
    oldpeak = rng.gamma(1.2, 0.8, n).round(1)
    logit = (
        -4.0
        + 0.05 * age
        + 0.8 * (sex == "M")
        + 1.4 * (pain == "ASY")
        + 1.0 * (angina == "Y")
        + 0.6 * oldpeak
        - 0.01 * (max_hr - 137)
    )
    disease = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(dict(
        age=age, sex=sex, chest_pain=pain, resting_bp=rng.normal(132, 18, n).clip(80, 200).round(),
        cholesterol=rng.normal(240, 55, n).clip(85, 600).round(), max_hr=max_hr, exercise_angina=angina, oldpeak=oldpeak,
    ))  # fmt: skip
    _write(frame.assign(heart_disease=disease).iloc[:700], "heart.csv")
    _write(frame.iloc[700:], "heart_new.csv")


def spend_data() -> None:
    rng = _rng("spend")
    n = 900
    age = rng.integers(18, 80, n)
    income = np.round(np.exp(rng.normal(10.6, 0.5, n)), -2)
    visits = rng.poisson(4, n) + 1
    home_x = rng.normal(0, 6, n).round(2)
    home_y = rng.normal(0, 6, n).round(2)
    spend = (
        120 * np.log(income)
        + 40 * np.sqrt(age)
        + 55 * visits
        - 18 * np.sqrt(home_x**2 + home_y**2)
        - 900
        + rng.normal(0, 60, n)
    ).round(2)
    frame = pd.DataFrame(dict(age=age, income=income, visits_per_month=visits, home_x=home_x, home_y=home_y))
    _write(frame.assign(yearly_spend=spend).iloc[:600], "shoppers.csv")
    _write(frame.iloc[600:], "shoppers_new.csv")


def employees_data() -> None:
    rng = _rng("employees")
    n = 400
    department = rng.choice(["sales", "engineering", "support", "finance", "hr"], n)
    satisfaction = rng.uniform(0.1, 1.0, n).round(2)
    years = rng.integers(0, 20, n)
    salary = rng.normal(52000, 14000, n).clip(24000, 140000).round(-2)
    remote = rng.choice(["Yes", "No"], n)
    logit = (
        1.0 - 3.2 * satisfaction - 0.08 * years - 0.00002 * (salary - 52000) + 0.4 * (department == "sales")
    )
    left = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        dict(
            department=department,
            age=rng.integers(21, 64, n),
            salary=salary,
            years_at_company=years,
            remote=remote,
            satisfaction=satisfaction,
            left=left,
        )
    )
    _write(frame, "employees.csv")


def store_sales_data() -> None:
    rng = _rng("store_sales")
    n = 790
    stores = [f"s{i:02d}" for i in range(1, 16)]
    store = rng.choice(stores, n)
    city = rng.choice(
        ["paris", "lyon", "lille", "nantes", "nice", "metz", "brest", "pau"],
        n,
        p=[0.3, 0.25, 0.21, 0.2, 0.01, 0.01, 0.009, 0.011],
    )
    base_price = dict(zip(stores, rng.uniform(3, 9, len(stores)).round(2), strict=True))
    price = (pd.Series(store).map(base_price).to_numpy() * rng.uniform(0.85, 1.15, n)).round(2)
    promo = rng.integers(0, 2, n)
    footfall = rng.normal(900, 250, n).clip(100, None).round()
    level = dict(zip(stores, rng.uniform(200, 900, len(stores)).round(), strict=True))
    sales = (
        pd.Series(store).map(level).to_numpy()
        + 0.3 * footfall
        - 25 * price
        + 80 * promo
        + rng.normal(0, 40, n)
    ).round()
    next_sales = (
        0.6 * sales + 0.4 * pd.Series(store).map(level).to_numpy() + 60 * promo + rng.normal(0, 35, n)
    ).round()
    frame = pd.DataFrame(
        dict(
            store=store,
            city=city,
            price=price,
            promo=promo,
            footfall=footfall,
            sales=sales,
            next_sales=next_sales,
        )
    )
    frame.loc[rng.choice(np.arange(5, n), 8, replace=False), "footfall"] = np.nan
    frame = pd.concat([frame, frame.iloc[rng.choice(np.arange(5, n), 10, replace=False)]], ignore_index=True)
    _write(frame, "store_sales.csv")


def penguins_data() -> None:
    rng = _rng("penguins")
    n = 344
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], n, p=[0.44, 0.36, 0.2]).astype(object)
    island = np.where(
        species == "Gentoo",
        "Biscoe",
        np.where(species == "Chinstrap", "Dream", rng.choice(["Torgersen", "Biscoe", "Dream"], n)),
    )
    sex = rng.choice(["male", "female"], n).astype(object)
    bill_length = (
        pd.Series(species).map({"Adelie": 38.8, "Gentoo": 47.5, "Chinstrap": 48.8}).to_numpy()
        + rng.normal(0, 2.6, n)
        + 1.5 * (sex == "male")
    ).round(1)
    bill_depth = (
        pd.Series(species).map({"Adelie": 18.3, "Gentoo": 15.0, "Chinstrap": 18.4}).to_numpy()
        + rng.normal(0, 1.0, n)
    ).round(1)
    flipper = (
        pd.Series(species).map({"Adelie": 190, "Gentoo": 217, "Chinstrap": 196}).to_numpy()
        + rng.normal(0, 6.5, n)
    ).round()
    mass = (
        pd.Series(species).map({"Adelie": 3700, "Gentoo": 5076, "Chinstrap": 3733}).to_numpy()
        + rng.normal(0, 420, n)
        + 350 * (sex == "male")
    ).round(-1)
    bill_length[[3, 271]] = np.nan
    mass[[3, 271]] = np.nan
    sex[rng.choice(n, 11, replace=False)] = None
    species[rng.choice(np.arange(10, n), 4, replace=False)] = None
    frame = pd.DataFrame(
        dict(
            species=species,
            island=island,
            bill_length_mm=bill_length,
            bill_depth_mm=bill_depth,
            flipper_length_mm=flipper,
            body_mass_g=mass,
            sex=sex,
        )
    )
    _write(frame, "penguins.csv")


def make_data() -> None:
    for make in (titanic_data, house_prices_data, telco_data, diabetes_data, apartments_data, loans_data, leads_data, transactions_data, insurance_data, wine_data, heart_data, spend_data, employees_data, store_sales_data, penguins_data):  # fmt: skip
        make()


# ------------------------------------------------------------------------------------------ notebooks


def code(source: str, tags: list[str] | None = None) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": tags} if tags else {},
        "outputs": [],
        "source": textwrap.dedent(source).strip("\n"),
    }


def md(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": textwrap.dedent(source).strip("\n")}


TITANIC = [
    md("""
    # Titanic - Machine Learning from Disaster

    *Corpus note - issue class: Kaggle absolute input paths (`/kaggle/input/...`), a second file of new
    records (`test.csv`), chained `inplace=True` fills, text features parsed with `str.extract`, a
    submission file written at the end.*

    My first Kaggle competition! Fittingly, I start with the classic random forest.
    """),
    code("""
    # This Python 3 environment comes with many helpful analytics libraries installed
    # It is defined by the kaggle/python Docker image: https://github.com/kaggle/docker-python
    import numpy as np # linear algebra
    import pandas as pd # data processing, CSV file I/O (e.g. pd.read_csv)

    # Input data files are available in the read-only "../input/" directory
    import os
    for dirname, _, filenames in os.walk('/kaggle/input'):
        for filename in filenames:
            print(os.path.join(dirname, filename))
    """),
    code("""
    import matplotlib.pyplot as plt
    import seaborn as sb
    from sklearn.ensemble import RandomForestClassifier
    """),
    md("""
    ## Load the data
    #1 thing to remember: the test set has no `Survived` column.
    """),
    code("""
    path = '/kaggle/input/titanic/train.csv'
    train = pd.read_csv(path)
    test = pd.read_csv('/kaggle/input/titanic/test.csv')
    train.head()
    """),
    code("train.info()"),
    code("train.isnull().sum()"),
    code("""
    women = train.loc[train.Sex == 'female']["Survived"]
    rate_women = sum(women)/len(women)
    print("% of women who survived:", rate_women)
    """),
    code("""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, col in zip(axes, ['Pclass', 'Sex', 'Embarked']):
        sb.countplot(x=col, hue='Survived', data=train, ax=ax)
    plt.show()
    """),
    md("""
    ## Cleaning
    #NaN in Age, Embarked and Cabin. Age gets the median, Embarked the most common port.
    """),
    code("""
    train['Age'].fillna(train['Age'].median(), inplace=True)
    train['Embarked'].fillna(train['Embarked'].mode()[0], inplace=True)
    test['Age'].fillna(train['Age'].median(), inplace=True)
    test['Embarked'].fillna(train['Embarked'].mode()[0], inplace=True)
    """),
    md("## Feature engineering"),
    code("""
    train['Sex'] = train['Sex'].map({'male': 0, 'female': 1})
    test['Sex'] = test['Sex'].map({'male': 0, 'female': 1})

    train['Title'] = train['Name'].str.extract(r' ([A-Za-z]+)\\.', expand=False)
    test['Title'] = test['Name'].str.extract(r' ([A-Za-z]+)\\.', expand=False)
    title_map = {'Mr': 1, 'Miss': 2, 'Mrs': 3, 'Master': 4}
    train['Title'] = train['Title'].map(title_map).fillna(5)
    test['Title'] = test['Title'].map(title_map).fillna(5)

    train['Embarked'] = train['Embarked'].map({'S': 0, 'C': 1, 'Q': 2})
    test['Embarked'] = test['Embarked'].map({'S': 0, 'C': 1, 'Q': 2})
    """),
    code("""
    train = train.drop(['Cabin', 'Ticket', 'Name'], axis=1)
    test = test.drop(['Cabin', 'Ticket', 'Name'], axis=1)
    train.head()
    """),
    md("## Model"),
    code("""
    features = ['Pclass', 'Sex', 'Age', 'SibSp', 'Parch', 'Fare', 'Embarked', 'Title']
    X = train[features]
    y = train['Survived']

    model = RandomForestClassifier(n_estimators=100, max_depth=5, random_state=1)
    model.fit(X, y)
    print('train accuracy', model.score(X, y))
    """),
    md("## Submission"),
    code("""
    predictions = model.predict(test[features])

    output = pd.DataFrame({'PassengerId': test.PassengerId, 'Survived': predictions})
    output.to_csv('submission.csv', index=False)
    print("Your submission was successfully saved!")
    """),
]

HOUSE_PRICES = [
    md("""
    # House Prices: regularized linear models

    *Corpus note - issue class: heavy pandas on the training frame with no scoring cell: a row filter
    (outliers), a log target, a skew statistic choosing which columns get `log1p`, `fillna` with the
    training means, `pd.get_dummies`, and `model.predict(X_test)` as the last word.*
    """),
    code("""
    import numpy as np
    import pandas as pd
    import matplotlib.pyplot as plt
    import seaborn as sb
    from sklearn.linear_model import Lasso, Ridge
    from sklearn.model_selection import cross_val_score, train_test_split
    """),
    code("""
    df = pd.read_csv('data/house_prices.csv')
    df.head()
    """),
    code("df.info()"),
    code("""
    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    sb.histplot(df['SalePrice'], ax=ax[0])
    sb.histplot(np.log1p(df['SalePrice']), ax=ax[1])
    """),
    md("""
    ## Outliers
    The documentation of the data set warns about a few very large, cheap houses. Drop them.
    """),
    code("""
    plt.scatter(df['GrLivArea'], df['SalePrice'])
    plt.xlabel('GrLivArea')
    """),
    code("df = df[df['GrLivArea'] < 4000]"),
    md("## Data preprocessing"),
    code("""
    y = np.log1p(df['SalePrice'])
    df = df.drop(['SalePrice', 'Id'], axis=1)

    numeric_feats = df.select_dtypes(include=[np.number]).columns
    skew = df[numeric_feats].apply(lambda x: x.dropna().skew())
    skewed = skew[skew > 0.75].index
    print(list(skewed))
    df[skewed] = np.log1p(df[skewed])
    """),
    code("""
    df = df.fillna(df.mean(numeric_only=True))
    df = pd.get_dummies(df)
    df.shape
    """),
    md("## Models"),
    code("""
    X_train, X_test, y_train, y_test = train_test_split(df, y, test_size=0.3, random_state=42)

    def rmse_cv(model):
        return np.sqrt(-cross_val_score(model, X_train, y_train, scoring="neg_mean_squared_error", cv=5))

    alphas = [0.05, 0.1, 0.3, 1, 3, 5, 10, 15, 30]
    cv_ridge = [rmse_cv(Ridge(alpha=alpha)).mean() for alpha in alphas]
    pd.Series(cv_ridge, index=alphas).plot(title="Validation")
    """),
    code("""
    model = Lasso(alpha=0.0005, max_iter=50000)
    model.fit(X_train, y_train)
    coef = pd.Series(model.coef_, index=X_train.columns)
    print("Lasso picked " + str(sum(coef != 0)) + " variables and eliminated the other " + str(sum(coef == 0)))
    """),
    code("y_pred = model.predict(X_test)"),
    code("np.expm1(y_pred[:5])"),
]

CHURN = [
    md("""
    # Telco customer churn

    *Corpus note - issue class: a number column stored as text with `' '` blanks
    (`pd.to_numeric(errors='coerce')`), the target mapped from Yes/No in place, a scikit-learn
    `Pipeline` + `ColumnTransformer` with an imputer, no scoring cell (`predict_proba(X_test)[:, 1]`).*
    """),
    code("""
    import pandas as pd
    import numpy as np
    import seaborn as sb
    import matplotlib.pyplot as plt
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score, classification_report
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    """),
    code("""
    df = pd.read_csv('data/telco_churn.csv')
    df.head()
    """),
    code("df.info()"),
    md("""
    ## Data cleaning
    TotalCharges is an object column: new customers (tenure 0) have a blank instead of a number.
    """),
    code("""
    df['TotalCharges'] = pd.to_numeric(df['TotalCharges'], errors='coerce')
    df['Churn'] = df['Churn'].map({'Yes': 1, 'No': 0})
    df.drop('customerID', axis=1, inplace=True)
    df.isnull().sum()
    """),
    code("""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, col in zip(axes.flat, ['Contract', 'InternetService', 'PaymentMethod']):
        sb.countplot(data=df, x=col, hue='Churn', ax=ax)
        ax.tick_params(axis='x', rotation=30)
    """),
    md("## Model pipeline"),
    code("""
    X = df.drop('Churn', axis=1)
    y = df['Churn']
    cat_cols = X.select_dtypes(exclude='number').columns.tolist()
    num_cols = X.select_dtypes(include='number').columns.tolist()

    preprocessor = ColumnTransformer([
        ('num', Pipeline([('impute', SimpleImputer(strategy='median')), ('scale', StandardScaler())]), num_cols),
        ('cat', OneHotEncoder(handle_unknown='ignore'), cat_cols),
    ])
    clf = Pipeline([('prep', preprocessor), ('model', LogisticRegression(max_iter=1000))])
    """),
    code("""
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42, stratify=y)
    clf.fit(X_train, y_train)
    """),
    md("## Evaluation"),
    code("""
    y_proba = clf.predict_proba(X_test)[:, 1]
    auc = roc_auc_score(y_test, y_proba)
    print(f'ROC AUC: {auc:.3f}')
    print(classification_report(y_test, (y_proba > 0.5).astype(int)))
    """),
]

COLAB = [
    md("""
    # Diabetes prediction with KNN (Colab tutorial)

    *Corpus note - issue class: a Colab notebook: `google.colab.files.upload()`, an absolute
    `/content/...` path, zeros replaced by NaN and filled with column medians, a `StandardScaler` fitted
    after `train_test_split` (`X_train = sc.fit_transform(X_train)`), no scoring cell.*

    Run the first cell and upload `diabetes.csv` when asked.
    """),
    code("""
    try:
        from google.colab import files
        uploaded = files.upload()
    except ImportError:
        print('not running in Colab: reading /content/diabetes.csv directly')
    """),
    code("""
    import numpy as np
    import pandas as pd
    import matplotlib.pyplot as plt
    import seaborn as sb
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.metrics import accuracy_score, confusion_matrix
    """),
    code("""
    df = pd.read_csv('/content/diabetes.csv')
    df.head()
    """),
    code("df.describe()"),
    md("""
    ## Cleaning
    Glucose, blood pressure, skin thickness, insulin and BMI cannot be 0: a 0 means *not measured*.
    """),
    code("""
    zero_not_accepted = ['Glucose', 'BloodPressure', 'SkinThickness', 'BMI', 'Insulin']
    for column in zero_not_accepted:
        df[column] = df[column].replace(0, np.nan)
        median = int(df[column].median(skipna=True))
        df[column] = df[column].fillna(median)
    """),
    code("""
    fig, axes = plt.subplots(2, 4, figsize=(16, 6))
    for ax, column in zip(axes.flatten(), df.columns[:-1]):
        sb.histplot(df[column], ax=ax)
    plt.tight_layout()
    """),
    md("## Split and scale"),
    code("""
    X = df.iloc[:, 0:8]
    y = df.iloc[:, 8]
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, test_size=0.2)
    """),
    code("""
    sc = StandardScaler()
    X_train = sc.fit_transform(X_train)
    X_test = sc.transform(X_test)
    """),
    md("## Train the KNN model"),
    code("""
    classifier = KNeighborsClassifier(n_neighbors=11, p=2, metric='euclidean')
    classifier.fit(X_train, y_train)
    """),
    code("""
    y_pred = classifier.predict(X_test)
    cm = confusion_matrix(y_test, y_pred)
    print(cm)
    acc = accuracy_score(y_test, y_pred)
    print(acc)
    """),
    code("sb.heatmap(cm, annot=True, fmt='d')"),
]

BREAST_CANCER = [
    md("""
    # Breast cancer classification

    *Corpus note - issue class: no data file at all: the data comes from `sklearn.datasets`
    (`load_breast_cancer(as_frame=True)`), column names with spaces, a `Pipeline` of `StandardScaler`
    and `LogisticRegression`, no scoring cell.*
    """),
    code("""
    import pandas as pd
    import matplotlib.pyplot as plt
    import seaborn as sb
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, classification_report
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    """),
    code("""
    data = load_breast_cancer(as_frame=True)
    df = data.frame
    df.head()
    """),
    code("""
    print(data.target_names)
    df['target'].value_counts()
    """),
    code("""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, col in zip(axes.ravel(), ['mean radius', 'mean texture', 'mean perimeter', 'mean area', 'mean smoothness', 'mean concavity']):
        sb.boxplot(data=df, x='target', y=col, ax=ax)
    """),
    md("## Training"),
    code("""
    X = df.drop(columns='target')
    y = df['target']
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=42)

    pipe = Pipeline([('scaler', StandardScaler()), ('logreg', LogisticRegression(max_iter=5000))])
    pipe.fit(X_train, y_train)
    """),
    md("## Evaluation"),
    code("""
    y_pred = pipe.predict(X_test)
    accuracy = accuracy_score(y_test, y_pred)
    print(classification_report(y_test, y_pred, target_names=data.target_names))
    """),
]

WHATIF = [
    md("""
    # Rent estimator

    *Corpus note - issue class: the only new records are built inline (`pd.DataFrame({...})`) and
    scored as a bare expression (`model.predict(new)`): a what-if cell, not a file of new data.*
    """),
    code("""
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.metrics import mean_absolute_error
    from sklearn.model_selection import train_test_split
    """),
    code("""
    df = pd.read_csv('data/apartments.csv')
    df.head()
    """),
    code("df.describe()"),
    md("## Fit a forest"),
    code("""
    X = df.drop(columns='rent')
    y = df['rent']
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=3)
    model = RandomForestRegressor(n_estimators=150, min_samples_leaf=2, random_state=3)
    model.fit(X_train, y_train)
    mae = mean_absolute_error(y_test, model.predict(X_test))
    mae
    """),
    md("""
    ## What if?
    How much for my flat, and for two I am looking at?
    """),
    code("""
    new = pd.DataFrame({'area': [80, 45, 120], 'rooms': [3, 2, 4], 'floor': [2, 5, 0], 'balcony': [1, 0, 1],
                        'year_built': [1995, 2012, 1968], 'distance_center_km': [3.5, 1.2, 8.0]})
    model.predict(new)
    """),
]

HELPER = [
    md("""
    # Loan approvals

    *Corpus note - issue class: the scoring goes through helper functions reading globals
    (`score(frame)` calls `add_features(frame)`, reads `model` and `THRESHOLD`) and returns a decision
    (`(p > THRESHOLD).astype(int)`), called on a file of new applications.*
    """),
    code("""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    """),
    code("""
    THRESHOLD = 0.35
    PURPOSE_RISK = {'car': 0, 'home': 1, 'education': 1, 'business': 3, 'other': 2}
    FEATURES = ['income', 'loan_amount', 'term_months', 'credit_score', 'employment_years', 'ratio', 'monthly', 'purpose_risk']
    """),
    code("""
    def add_features(frame):
        out = frame.copy()
        out['ratio'] = out['loan_amount'] / out['income']
        out['monthly'] = out['loan_amount'] / out['term_months']
        out['purpose_risk'] = out['purpose'].map(PURPOSE_RISK).fillna(2)
        return out[FEATURES]


    def score(frame):
        feats = add_features(frame)
        p = model.predict_proba(feats)[:, 1]
        return (p > THRESHOLD).astype(int)
    """),
    md("## Data"),
    code("""
    loans = pd.read_csv('data/loans.csv')
    loans.head()
    """),
    code("loans['default'].mean()"),
    md("## Training"),
    code("""
    X = add_features(loans)
    y = loans['default']
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=11)
    model = GradientBoostingClassifier(n_estimators=120, max_depth=3, random_state=11)
    model.fit(X_train, y_train)
    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    print('AUC', round(auc, 3))
    """),
    md("## Decide on this week's applications"),
    code("""
    applications = pd.read_csv('data/loans_new.csv')
    decisions = score(applications)
    decisions.mean()
    """),
]

PROBA = [
    md("""
    # Lead scoring

    *Corpus note - issue class: the classifier's probability is taken by column index
    (`predict_proba(X_new)[:, 1]`) and assigned into a column of the new frame; categories encoded by a
    fitted `OrdinalEncoder`.*
    """),
    code("""
    import pandas as pd
    import matplotlib.pyplot as plt
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import OrdinalEncoder
    """),
    code("""
    leads = pd.read_csv('data/leads.csv')
    leads.head()
    """),
    code("""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3))
    for ax, col in zip(axes, ['visits', 'time_on_site', 'pages_viewed']):
        leads.boxplot(column=col, by='converted', ax=ax)
    """),
    md("## Encoding"),
    code("""
    cats = ['source', 'country']
    enc = OrdinalEncoder(handle_unknown='use_encoded_value', unknown_value=-1)
    leads[cats] = enc.fit_transform(leads[cats])
    features = ['visits', 'time_on_site', 'pages_viewed', 'source', 'country', 'returning']
    """),
    md("## Model"),
    code("""
    X_train, X_test, y_train, y_test = train_test_split(leads[features], leads['converted'], test_size=0.25, random_state=5)
    model = RandomForestClassifier(n_estimators=200, min_samples_leaf=3, random_state=5)
    model.fit(X_train, y_train)
    print('AUC', roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))
    """),
    md("## Score the new leads"),
    code("""
    new = pd.read_csv('data/leads_new.csv')
    X_new = new.copy()
    X_new[cats] = enc.transform(X_new[cats])
    X_new = X_new[features]
    new['p_convert'] = model.predict_proba(X_new)[:, 1]
    new.sort_values('p_convert', ascending=False).head(10)
    """),
]

XGB = [
    md("""
    # Card fraud with XGBoost

    *Corpus note - issue class: an import alias shadowed by the model
    (`import xgboost as xgb; xgb = xgb.XGBClassifier(...)`), `pd.get_dummies` on the new records
    re-indexed to the training columns.*
    """),
    code("""
    import pandas as pd
    import xgboost as xgb
    from sklearn.metrics import classification_report
    from sklearn.model_selection import train_test_split
    """),
    code("""
    tx = pd.read_csv('data/transactions.csv')
    tx.head()
    """),
    code("tx['fraud'].value_counts(normalize=True)"),
    md("## Features"),
    code("""
    X = pd.get_dummies(tx.drop(columns='fraud'), columns=['merchant_category'], dtype=int)
    y = tx['fraud']
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=8)
    """),
    md("## XGBoost"),
    code("""
    xgb = xgb.XGBClassifier(n_estimators=150, max_depth=4, learning_rate=0.1, tree_method='hist', n_jobs=1, random_state=8)
    xgb.fit(X_train, y_train)
    print(classification_report(y_test, xgb.predict(X_test)))
    """),
    md("## Today's transactions"),
    code("""
    today = pd.read_csv('data/transactions_new.csv')
    today_X = pd.get_dummies(today, columns=['merchant_category'], dtype=int).reindex(columns=X.columns, fill_value=0)
    flags = xgb.predict(today_X)
    flags.sum()
    """),
]

LGBM = [
    md("""
    # Vehicle insurance cross-sell with LightGBM

    *Corpus note - issue class: one `LabelEncoder` re-fitted in a loop over the categorical columns
    (`for c in cats: df[c] = le.fit_transform(df[c])`, so the object ends holding the last column's
    classes only), LightGBM, no scoring cell.*
    """),
    code("""
    import pandas as pd
    import lightgbm as lgb
    import seaborn as sb
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelEncoder
    """),
    code("""
    df = pd.read_csv('data/vehicle_insurance.csv')
    df.head()
    """),
    code("df.info()"),
    code("""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, c in zip(axes, ['vehicle_age', 'vehicle_damage', 'previously_insured']):
        sb.barplot(data=df, x=c, y='response', ax=ax)
    """),
    md("## Encode the categories"),
    code("""
    cats = ['gender', 'region', 'vehicle_age', 'vehicle_damage']
    le = LabelEncoder()
    for c in cats:
        df[c] = le.fit_transform(df[c])
    df.head()
    """),
    md("## Train LightGBM"),
    code("""
    X = df.drop(columns=['response'])
    y = df['response']
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=17, stratify=y)
    model = lgb.LGBMClassifier(n_estimators=120, learning_rate=0.05, num_leaves=15, random_state=17, n_jobs=1, verbose=-1)
    model.fit(X_train, y_train)
    """),
    code("""
    proba = model.predict_proba(X_test)[:, 1]
    auc = roc_auc_score(y_test, proba)
    print('AUC:', auc)
    y_pred = model.predict(X_test)
    """),
]

STACKING = [
    md("""
    # Wine quality: grid search and model selection

    *Corpus note - issue class: the served model is chosen at run time: `GridSearchCV` over a random
    forest (`grid.best_estimator_`) and a loop over fitted candidates picking the best by score.*
    """),
    code("""
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    """),
    code("""
    wine = pd.read_csv('data/wine_quality.csv')
    features = [c for c in wine.columns if c != 'good']
    wine.head()
    """),
    code("wine.corr()['good'].sort_values()"),
    md("## Grid search"),
    code("""
    X_train, X_test, y_train, y_test = train_test_split(wine[features], wine['good'], test_size=0.25, random_state=21)
    params = {'n_estimators': [60, 120], 'max_depth': [4, None]}
    grid = GridSearchCV(RandomForestClassifier(random_state=21), params, cv=3)
    grid.fit(X_train, y_train)
    grid.best_params_
    """),
    md("## Which model?"),
    code("""
    candidates = {
        'logreg': make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y_train),
        'knn': make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15)).fit(X_train, y_train),
        'forest': grid.best_estimator_,
    }
    scores = {}
    for name, candidate in candidates.items():
        scores[name] = candidate.score(X_test, y_test)
        print(name, round(scores[name], 3))
    best_name = max(scores, key=scores.get)
    best_model = candidates[best_name]
    print('best:', best_name)
    """),
    md("## Score the new batch"),
    code("""
    new = pd.read_csv('data/wine_new.csv')
    new_pred = best_model.predict(new[features])
    new_pred.mean()
    """),
]

VOTING = [
    md("""
    # Heart disease: a soft-voting ensemble

    *Corpus note - issue class: a `VotingClassifier` built from parts fitted one by one, `get_dummies`
    with `drop_first=True`, text columns mapped to numbers, the new records selected with the training
    columns (`new_X[X.columns]`).*
    """),
    code("""
    import numpy as np
    import pandas as pd
    import seaborn as sb
    import matplotlib.pyplot as plt
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, VotingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split
    """),
    code("""
    heart = pd.read_csv('data/heart.csv')
    heart.head()
    """),
    code("""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, col in zip(axes.flat, ['age', 'resting_bp', 'cholesterol', 'max_hr']):
        sb.histplot(data=heart, x=col, hue='heart_disease', ax=ax)
    """),
    md("## Prepare"),
    code("""
    def prepare(frame):
        frame = frame.copy()
        frame['sex'] = frame['sex'].map({'M': 1, 'F': 0})
        frame['exercise_angina'] = frame['exercise_angina'].map({'Y': 1, 'N': 0})
        return pd.get_dummies(frame, columns=['chest_pain'], drop_first=True, dtype=int)

    X = prepare(heart.drop(columns='heart_disease'))
    y = heart['heart_disease']
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=4)
    """),
    md("## Three models, then a vote"),
    code("""
    lr = LogisticRegression(max_iter=3000).fit(X_train, y_train)
    rf = RandomForestClassifier(n_estimators=150, max_depth=6, random_state=4).fit(X_train, y_train)
    gb = GradientBoostingClassifier(random_state=4).fit(X_train, y_train)
    for name, m in [('lr', lr), ('rf', rf), ('gb', gb)]:
        print(name, accuracy_score(y_test, m.predict(X_test)))
    """),
    code("""
    vote = VotingClassifier(estimators=[('lr', lr), ('rf', rf), ('gb', gb)], voting='soft')
    vote.fit(X_train, y_train)
    print('vote', accuracy_score(y_test, vote.predict(X_test)))
    """),
    md("## New patients"),
    code("""
    new = pd.read_csv('data/heart_new.csv')
    new_X = prepare(new)
    risk = vote.predict_proba(new_X[X.columns])[:, 1]
    np.round(risk[:10], 2)
    """),
]

STAR = [
    md("""
    # Shopper spend

    *Corpus note - issue class: `from math import *`, with `log` and `sqrt` used in features and in a
    helper function.*
    """),
    code("""
    from math import *
    import pandas as pd
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split
    """),
    code("""
    def distance(x, y):
        return sqrt(x ** 2 + y ** 2)


    def features(frame):
        out = pd.DataFrame(index=frame.index)
        out['log_income'] = frame['income'].apply(log)
        out['sqrt_age'] = frame['age'].apply(sqrt)
        out['visits'] = frame['visits_per_month']
        out['distance'] = [distance(x, y) for x, y in zip(frame['home_x'], frame['home_y'])]
        return out
    """),
    code("""
    shoppers = pd.read_csv('data/shoppers.csv')
    shoppers.head()
    """),
    md("## Fit"),
    code("""
    X = features(shoppers)
    y = shoppers['yearly_spend']
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=2)
    reg = LinearRegression().fit(X_train, y_train)
    r2 = r2_score(y_test, reg.predict(X_test))
    print(f'R^2 = {r2:.3f}, pi is still {pi:.4f}')
    """),
    md("## Next month's shoppers"),
    code("""
    upcoming = pd.read_csv('data/shoppers_new.csv')
    expected_spend = reg.predict(features(upcoming))
    expected_spend[:5]
    """),
]

STALE = [
    md("""
    # Employee attrition

    *Corpus note - issue class: a stale API: `df.corr()` on a frame with text columns worked on old
    pandas and raises on pandas 2+ (`numeric_only` now defaults to False). Expected: `mlship verify`
    refuses, naming the cell and the fix (`numeric_only=True`), rather than serving.*
    """),
    code("""
    import pandas as pd
    import seaborn as sb
    import matplotlib.pyplot as plt
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split
    """),
    code("""
    df = pd.read_csv('data/employees.csv')
    df.head()
    """),
    md("## Correlations"),
    code("""
    plt.figure(figsize=(8, 6))
    sb.heatmap(df.corr(), annot=True, cmap='coolwarm')
    plt.show()
    """),
    md("## Model"),
    code("""
    X = pd.get_dummies(df.drop(columns='left'), columns=['department', 'remote'], dtype=float)
    y = df['left']
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=9)
    model = LogisticRegression(max_iter=5000)
    model.fit(X_train, y_train)
    accuracy = accuracy_score(y_test, model.predict(X_test))
    print(accuracy)
    """),
]

GROUPS = [
    md("""
    # Next week's store sales

    *Corpus note - issue class: statistics of the training data that a single record cannot recompute:
    per-store means (`groupby().transform('mean')`, `groupby().mean()` mapped back), a list of rare
    cities folded into `'other'`, plus `drop_duplicates()` and `dropna()` changing the row count; no
    scoring cell.*
    """),
    code("""
    import pandas as pd
    import seaborn as sb
    import matplotlib.pyplot as plt
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.metrics import mean_absolute_error
    from sklearn.model_selection import train_test_split
    """),
    code("""
    df = pd.read_csv('data/store_sales.csv')
    print(df.shape)
    df.head()
    """),
    md("""
    ## Cleaning
    #duplicates: the export sometimes repeats a row. Drop those, and the few rows without footfall.
    """),
    code("""
    df = df.drop_duplicates()
    df = df.dropna()
    df.shape
    """),
    md("## Feature engineering"),
    code("""
    df['store_avg_sales'] = df.groupby('store')['sales'].transform('mean')
    means = df.groupby('store')['price'].mean()
    df['store_price'] = df['store'].map(means)
    df['price_vs_store'] = df['price'] / df['store_price']

    vc = df['city'].value_counts()
    rare = vc[vc < 10].index
    df.loc[df.city.isin(rare), 'city'] = 'other'
    df['city'].value_counts()
    """),
    code("""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    sb.boxplot(data=df, x='city', y='next_sales', ax=axes[0])
    sb.scatterplot(data=df, x='sales', y='next_sales', hue='promo', ax=axes[1])
    """),
    md("## Model"),
    code("""
    X = pd.get_dummies(df.drop(columns=['next_sales', 'store']), columns=['city'], dtype=float)
    y = df['next_sales']
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=13)
    model = RandomForestRegressor(n_estimators=150, min_samples_leaf=3, random_state=13)
    model.fit(X_train, y_train)
    """),
    code("""
    y_pred = model.predict(X_test)
    mae = mean_absolute_error(y_test, y_pred)
    print('MAE', mae)
    """),
]

PENGUINS = [
    md("""
    # Palmer penguins: species from measurements

    *Corpus note - issue class: the target is label-encoded (`y = le.fit_transform(df['species'])`) and
    decoded back (`le.inverse_transform`), a column list that includes the target and then drops it,
    `dropna(subset=['species'])`; no scoring cell.*
    """),
    code("""
    import pandas as pd
    import seaborn as sb
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelEncoder
    """),
    code("""
    df = pd.read_csv('data/penguins.csv')
    df.head()
    """),
    code("df.info()"),
    code("sb.scatterplot(data=df, x='bill_length_mm', y='flipper_length_mm', hue='species')"),
    md("## Preprocessing"),
    code("""
    df = df.dropna(subset=['species'])
    cols = ['species', 'island', 'bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g', 'sex']
    le = LabelEncoder()
    y = le.fit_transform(df['species'])
    X = df[cols].drop(columns=['species'])
    X = pd.get_dummies(X, columns=['island', 'sex'], dtype=float)
    X = X.fillna(X.median())
    """),
    md("## Training"),
    code("""
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    model = RandomForestClassifier(n_estimators=100, random_state=0)
    model.fit(X_train, y_train)
    """),
    code("""
    y_pred = le.inverse_transform(model.predict(X_test))
    accuracy = accuracy_score(le.inverse_transform(y_test), y_pred)
    print(accuracy)
    """),
]


UDEMY = [
    md("""
    # Logistic Regression with Python

    *Corpus note - issue class: a course-style Titanic: rows with gaps dropped (`dropna`) before a split of an expression (`train.drop('Survived',axis=1)`), predictions under their own heading and metrics under the next, a cell pasted with a leading space.*

    We'll be trying to predict a classification- survival or deceased.
    """),
    code("""
    import pandas as pd
    import numpy as np
    import matplotlib.pyplot as plt
    import seaborn as sns
    %matplotlib inline
    """),
    code("train = pd.read_csv('train.csv')"),
    {**code("train.head()"), "source": " train.head()"},  # pasted with a leading space; Jupyter runs it
    code("sns.heatmap(train.isnull(),yticklabels=False,cbar=False,cmap='viridis')"),
    md("## Converting Categorical Features"),
    code("""
    sex = pd.get_dummies(train['Sex'],drop_first=True)
    embark = pd.get_dummies(train['Embarked'],drop_first=True)
    """),
    code("""
    train.drop(['Sex','Embarked','Name','Ticket','Cabin'],axis=1,inplace=True)
    train = pd.concat([train,sex,embark],axis=1)
    train.dropna(inplace=True)
    """),
    md("# Building a Logistic Regression model"),
    code("""
    from sklearn.model_selection import train_test_split
    X_train, X_test, y_train, y_test = train_test_split(train.drop('Survived',axis=1),
                                                        train['Survived'], test_size=0.30,
                                                        random_state=101)
    """),
    code("""
    from sklearn.linear_model import LogisticRegression
    logmodel = LogisticRegression(max_iter=5000)
    logmodel.fit(X_train,y_train)
    """),
    md("## Predictions"),
    code("predictions = logmodel.predict(X_test)"),
    md("## Evaluation"),
    code("""
    from sklearn.metrics import classification_report, accuracy_score
    print(classification_report(y_test,predictions))
    accuracy = accuracy_score(y_test,predictions)
    """),
]

ONEHOT = [
    md("""
    # Cross-sell prediction

    *Corpus note - issue class: a ColumnTransformer whose OneHotEncoder refuses unknown categories, an unseeded split and RandomForest, the model scored only through `model.score(X_test, y_test)`.*
    """),
    code("""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.pipeline import Pipeline
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split
    """),
    code("""
    df = pd.read_csv('vehicle_insurance.csv')
    df.head()
    """),
    code("""
    cat_cols = ['gender', 'region', 'vehicle_age', 'vehicle_damage']
    num_cols = ['age', 'annual_premium', 'vintage', 'previously_insured']
    X = df[cat_cols + num_cols]
    y = df['response']
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25)
    """),
    code("""
    pre = ColumnTransformer([('cat', OneHotEncoder(), cat_cols), ('num', StandardScaler(), num_cols)])
    model = Pipeline([('pre', pre), ('rf', RandomForestClassifier(n_estimators=50, max_depth=6))])
    model.fit(X_train, y_train)
    """),
    code("print('accuracy', model.score(X_test, y_test))"),
]


KERNEL = [
    md("""
    # Heart disease: EDA and a few models

    *Corpus note - issue class: a Kaggle kernel's input listing (`print(os.listdir("../input"))`), plots drawn into `axs` inside a loop over models, a scaler fitted inline (`StandardScaler().fit_transform(...)`), the target taken by position (`iloc[:, -1:].values.ravel()`), scored only by `model.score(X, y)`.*
    """),
    code("""
    import numpy as np # linear algebra
    import pandas as pd # data processing, CSV file I/O (e.g. pd.read_csv)
    import os
    print(os.listdir("../input"))
    """),
    code("""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from sklearn.preprocessing import StandardScaler
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.metrics import confusion_matrix, accuracy_score
    """),
    code("""
    data = pd.read_csv("../input/heart.csv")
    data.head()
    """),
    code("sns.countplot(x='sex', hue='heart_disease', data=data)"),
    code("""
    data['sex'] = data['sex'].map({'M': 1, 'F': 0})
    data['exercise_angina'] = data['exercise_angina'].map({'Y': 1, 'N': 0})
    data['chest_pain'] = data['chest_pain'].map({'ASY': 0, 'NAP': 1, 'ATA': 2, 'TA': 3})
    """),
    code("""
    X = StandardScaler().fit_transform(data.iloc[:, :-1])
    y = data.iloc[:, -1:].values.ravel()
    """),
    code("""
    kf = KFold(n_splits=5, shuffle=True, random_state=1)
    fig, axs = plt.subplots(ncols=2, figsize=(12, 5))
    classifiers = [LogisticRegression(max_iter=1000), KNeighborsClassifier(n_neighbors=9)]
    for i, c in enumerate(classifiers):
        pred = cross_val_predict(c, X, y, cv=kf)
        print(type(c).__name__, accuracy_score(y, pred))
        sns.heatmap(confusion_matrix(y, pred), annot=True, fmt='g', ax=axs[i])
        axs[i].set_title(type(c).__name__)
    plt.show()
    """),
    code("""
    model = LogisticRegression(max_iter=1000)
    model.fit(X, y)
    print(model.score(X, y))
    """),
]


def _training(path: str, target: str) -> dict:
    # No scoring cell (or only inline records): the training file's rows minus the target are the records.
    return {"file": path, "drop": [target]}


SERVICE = {"outcome": "service"}

# name -> (cells, data files given to `init --data`, records, expected outcome)
CORPUS: dict[str, tuple[list[dict], list[str], dict, dict]] = {
    "titanic_kaggle": (
        TITANIC,
        ["titanic/train.csv", "titanic/test.csv"],
        {"file": "titanic/test.csv"},
        SERVICE,
    ),
    "house_prices_skew": (
        HOUSE_PRICES,
        ["house_prices.csv"],
        _training("house_prices.csv", "SalePrice"),
        SERVICE,
    ),
    "churn_pipeline": (CHURN, ["telco_churn.csv"], _training("telco_churn.csv", "Churn"), SERVICE),
    "colab_tutorial": (COLAB, ["diabetes.csv"], _training("diabetes.csv", "Outcome"), SERVICE),
    "bundled_breast_cancer": (
        BREAST_CANCER,
        [],
        {"sklearn": "load_breast_cancer", "drop": ["target"]},
        SERVICE,
    ),
    "inline_whatif": (
        WHATIF,
        ["apartments.csv"],
        {**_training("apartments.csv", "rent"), "notebook_records": 3},
        SERVICE,
    ),
    "helper_scoring": (HELPER, ["loans.csv", "loans_new.csv"], {"file": "loans_new.csv"}, SERVICE),
    "proba_column_index": (PROBA, ["leads.csv", "leads_new.csv"], {"file": "leads_new.csv"}, SERVICE),
    "xgboost_alias": (
        XGB,
        ["transactions.csv", "transactions_new.csv"],
        {"file": "transactions_new.csv"},
        SERVICE,
    ),
    "lightgbm_or_hgb": (
        LGBM,
        ["vehicle_insurance.csv"],
        _training("vehicle_insurance.csv", "response"),
        SERVICE,
    ),
    "stacking_grid": (STACKING, ["wine_quality.csv", "wine_new.csv"], {"file": "wine_new.csv"}, SERVICE),
    # get_dummies(drop_first=True) inside the notebook's own helper: one record alone loses its dummy
    # column, and mlship does not rewrite helpers. verify must catch it (records scored alone differ).
    "voting": (
        VOTING,
        ["heart.csv", "heart_new.csv"],
        {"file": "heart_new.csv"},
        {
            "outcome": "refusal",
            "stage": "verify",
            "exit_code": 1,
            "message": ["parity failed", "records scored alone"],
        },
    ),
    "star_import": (STAR, ["shoppers.csv", "shoppers_new.csv"], {"file": "shoppers_new.csv"}, SERVICE),
    "stale_api": (
        STALE,
        ["employees.csv"],
        _training("employees.csv", "left"),
        {
            "outcome": "refusal",
            "stage": "plan, init or verify",
            "exit_code": 2,
            "cell": 5,
            "message": ["cell 5", "numeric_only=True"],
        },
    ),
    "group_stats": (
        GROUPS,
        ["store_sales.csv"],
        {**_training("store_sales.csv", "next_sales"), "complete": ["footfall"]},
        {**SERVICE, "rejects": [{"set": {"footfall": None}, "names": "footfall"}]},
    ),
    "target_label_encoded": (PENGUINS, ["penguins.csv"], _training("penguins.csv", "species"), SERVICE),
    # The model never saw a missing Age (the notebook drops those rows): a request without one is refused.
    "course_titanic": (
        UDEMY,
        ["titanic/train.csv"],
        {**_training("titanic/train.csv", "Survived"), "complete": ["Age"]},
        {**SERVICE, "rejects": [{"set": {"Age": None}, "names": "Age"}]},
    ),
    "kaggle_eda_kernel": (
        KERNEL,
        ["heart.csv"],
        _training("heart.csv", "heart_disease"),
        {**SERVICE, "rejects": [{"set": {"chest_pain": "XYZ"}, "names": "chest_pain"}]},
    ),
    "onehot_pipeline": (
        ONEHOT,
        ["vehicle_insurance.csv"],
        _training("vehicle_insurance.csv", "response"),
        {**SERVICE, "rejects": [{"set": {"region": "r99"}, "names": "region"}]},
    ),
}


def notebook(stem: str, cells: list[dict]) -> dict:
    cells = [dict(cell, id=f"{stem[:20]}-{i:03d}") for i, cell in enumerate(cells)]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def main() -> None:
    make_data()
    manifest = {}
    for stem, (cells, data, records, expect) in CORPUS.items():
        (HERE / f"{stem}.ipynb").write_text(json.dumps(notebook(stem, cells), indent=1) + "\n")
        manifest[stem] = {"issue": cells[0]["source"].split("issue class: ", 1)[1].split("*", 1)[0].replace("\n", " ").strip(), "data": [f"data/{d}" for d in data], "records": records, "expect": expect}  # fmt: skip
        if "file" in records:
            records["file"] = f"data/{records['file']}"
    (HERE / "corpus.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
