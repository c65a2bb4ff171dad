"""Studies: the ask/tell loop, trials, early stopping and storage."""

from budgetnas.study.early_stopping import EarlyStoppingPolicy, StopByRank, StopByValue
from budgetnas.study.storage import BaseStorage, InMemoryStorage
from budgetnas.study.study import Study, TrialPruned, sample
from budgetnas.study.trial import Trial, TrialState

__all__ = ["BaseStorage", "EarlyStoppingPolicy", "InMemoryStorage", "StopByRank", "StopByValue",
           "Study", "Trial", "TrialPruned", "TrialState", "sample"]
