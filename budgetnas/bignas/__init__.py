"""BigNAS: one supernet whose children need no retraining (Yu et al., ECCV 2020, arXiv 2003.11142).

:class:`BigNASTrainer` (sandwich rule, inplace distillation, regularising the largest child only,
exponential learning rate with a constant ending), :func:`evaluate_child` (BN calibration, then
accuracy with the shared weights) and :func:`coarse_to_fine` (selection under a budget).
"""

from budgetnas.bignas.select import SelectionResult, coarse_to_fine, evaluate_child, quantile_child
from budgetnas.bignas.trainer import BigNASTrainer, exp_constant_lr, sandwich_children

__all__ = ["BigNASTrainer", "SelectionResult", "coarse_to_fine", "evaluate_child",
           "exp_constant_lr", "quantile_child", "sandwich_children"]
