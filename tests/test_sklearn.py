"""NASClassifier / NASRegressor: scikit-learn's estimator checks and real data."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from budgetnas.sklearn import NASClassifier, NASRegressor

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Small, fast settings for the estimator checks: a 6-child space and a short search.
FAST = dict(max_params=600, steps=30, widths=(8, 16, 32), depths=(1, 2), max_epochs=60,
            random_state=0)


def expected_failed_checks(estimator):
    """Checks that do not apply, each with its reason."""
    return {}


@parametrize_with_checks([NASClassifier(**FAST), NASRegressor(**FAST)],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
