"""Known library API changes that make an old notebook fail when run: the error in one line, a likely fix."""

from __future__ import annotations

import re

SEABORN_KEYWORDS = (
    "seaborn 0.12 takes its data arguments by keyword: pass x=..., y=... (and data=...) by name"
)
SAME_NAME = (
    "two columns of the features have one name (`get_dummies` of two Yes/No columns both make 'Yes'): "
    "give each a prefix, `pd.get_dummies(df['Married'], prefix='Married', drop_first=True)`"
)
# (exception type, pattern in its message, pattern in the cell's code or the traceback or None, fix)
KNOWN_CHANGES: tuple[tuple[str, str, str | None, str], ...] = (
    ("ValueError", r"could not convert string to float", r"\.corr\(",
     "pandas 2 no longer skips text columns in `DataFrame.corr()`: use `df.corr(numeric_only=True)`"),
    ("InvalidParameterError", r"max_features.*'auto'", None,
     "scikit-learn 1.3 removed max_features='auto': use max_features='sqrt' (what 'auto' meant for "
     "classifiers; 1.0 for regressors), or pin scikit-learn<1.3"),
    ("TypeError", r"takes .*positional argument", r"seaborn|\bsns\.",
     SEABORN_KEYWORDS),
    ("AttributeError", r"module 'numpy' has no attribute '(float|int|bool|object|str|complex)'", None,
     "numpy 1.24 removed the aliases np.float/np.int/np.bool/np.object: use float/int/bool/object, "
     "or pin numpy<1.24"),
    ("AttributeError", r"'(DataFrame|Series)' object has no attribute 'append'", None,
     "pandas 2 removed DataFrame.append/Series.append: use pd.concat([df, other])"),
    ("ValueError", r"contains NaN", r"\]\.fillna\([^)]*inplace\s*=\s*True",
     "pandas 3 (copy-on-write): `df['col'].fillna(..., inplace=True)` no longer changes df, so the NaN reach "
     "the model: write `df['col'] = df['col'].fillna(...)`, or pin pandas<3"),
    ("TypeError", r"unexpected keyword argument 'base_estimator'", None,
     "scikit-learn 1.4 renamed base_estimator= to estimator= (BaggingClassifier, AdaBoostClassifier, ...)"),
    ("TypeError", r"unexpected keyword argument 'sparse'", r"OneHotEncoder",
     "scikit-learn 1.4 renamed OneHotEncoder(sparse=...) to sparse_output=..."),
    ("ImportError", r"cannot import name 'plot_(confusion_matrix|roc_curve|precision_recall_curve)'", None,
     "scikit-learn 1.2 removed plot_confusion_matrix/plot_roc_curve/plot_precision_recall_curve: use "
     "ConfusionMatrixDisplay.from_estimator / RocCurveDisplay.from_estimator / "
     "PrecisionRecallDisplay.from_estimator, or pin scikit-learn<1.2"),
    ("DuplicateError", r"unique column names", r"get_dummies",
     SAME_NAME),
    ("ValueError", r"(Duplicate column names|columns are not unique|duplicate)", r"get_dummies",
     SAME_NAME),
    ("AttributeError", r"'(Series|DataFrame)' object has no attribute 'iteritems'", None,
     "pandas 2 removed Series.iteritems/DataFrame.iteritems: use .items()"),
    ("ValueError", r"Cannot specify both 'axis' and 'index'/'columns'", None,
     "pandas 2 refuses drop(columns=..., axis=1): give either columns=... or axis=1, not both"),
    ("ImportError", r"cannot import name 'Imputer'", None,
     "scikit-learn 0.22 removed sklearn.preprocessing.Imputer: use sklearn.impute.SimpleImputer"),
    ("ModuleNotFoundError", r"No module named 'sklearn\.cross_validation'", None,
     "scikit-learn 0.20 moved sklearn.cross_validation to sklearn.model_selection"),
    ("ValueError", r"cannot be assigned with wide-form data", r"seaborn|\bsns\.",
     SEABORN_KEYWORDS),
    ("TypeError", r"(distplot|boxplot|countplot|barplot|scatterplot).*positional", None,
     SEABORN_KEYWORDS),
)  # fmt: skip


def one_line(ename: str, evalue: str) -> str:
    first = next((line.strip() for line in evalue.splitlines() if line.strip()), "")
    return f"{ename}: {first}" if first else ename


def likely_fix(ename: str, evalue: str, context: str = "") -> str | None:
    """The fix for a known API change, from the exception and the failed cell's code/traceback."""
    for name, message, where, fix in KNOWN_CHANGES:
        if ename.split(".")[-1] != name or not re.search(message, evalue):
            continue
        if where is None or re.search(where, context):
            return fix
    return None
