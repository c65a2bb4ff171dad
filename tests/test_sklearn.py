"""NASClassifier / NASRegressor: scikit-learn's estimator checks and real data."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from budgetnas.sklearn import NASClassifier, NASRegressor

# Small, fast settings for the estimator checks: a 6-child space and a short search.
FAST = dict(max_params=600, steps=20, widths=(8, 16, 32), depths=(1, 2), max_epochs=15,
            learning_rate=1e-2, random_state=0)


def expected_failed_checks(estimator):
    """Checks that do not apply, each with its reason: none — every check of scikit-learn 1.9
    applies to these estimators and passes (NaN in X is imputed, so the NaN checks are skipped
    by the ``allow_nan`` tag, not marked)."""
    return {}


@parametrize_with_checks([NASClassifier(**FAST), NASRegressor(**FAST)],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
def test_classifier_on_breast_cancer_within_budget():
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    clf = NASClassifier(max_params=1500, steps=300, random_state=0).fit(X_tr, y_tr)
    assert clf.n_params_ <= 1500 and clf.n_features_in_ == 30
    assert clf.score(X_te, y_te) > 0.93
    proba = clf.predict_proba(X_te)
    assert proba.shape == (len(X_te), 2) and np.allclose(proba.sum(axis=1), 1)
    assert list(clf.search_history_.columns[:3]) == ["step", "phase", "widths"]
    again = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(again.predict(X_te), clf.predict(X_te))


def test_regressor_on_diabetes_and_params_round_trip():
    X, y = load_diabetes(return_X_y=True)
    reg = NASRegressor(max_params=800, steps=200, learning_rate=1e-2, random_state=0)
    assert reg.get_params()["max_params"] == 800
    reg.set_params(max_params=900)
    reg.fit(X[:350], y[:350])
    assert reg.n_params_ <= 900
    assert reg.score(X[350:], y[350:]) > 0.3  # R²; linear models reach about 0.5 here
    assert clone(reg).get_params() == reg.get_params()


@pytest.mark.slow
def test_classifier_on_a_dataframe_with_categorical_columns():
    from budgetnas.tabular import load_dataset

    train_df, test_df, target = load_dataset("adult")
    train_df, test_df = train_df.iloc[:3000], test_df.iloc[:1000]
    clf = NASClassifier(max_params=2000, steps=200, random_state=0)
    clf.fit(train_df.drop(columns=[target]), train_df[target])
    assert list(clf.feature_names_in_[:2]) == ["age", "workclass"]
    assert set(clf.classes_) == {"<=50K", ">50K"}
    acc = clf.score(test_df.drop(columns=[target]), test_df[target])
    assert acc > 0.8  # majority class: 0.76
    with pytest.raises(ValueError, match="workclass"):
        clf.predict(test_df.drop(columns=[target, "workclass"]))


def test_bad_targets_raise_value_errors():
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(ValueError, match="class"):
        NASClassifier(**FAST).fit(X[:50], np.zeros(50))
    with pytest.raises(ValueError, match="numeric"):
        NASRegressor(**FAST).fit(X[:50], np.array(["a", "b"] * 25))
    with pytest.raises(ValueError, match="at least"):
        NASClassifier(max_params=10).fit(X[:50], y[:50])
