"""One-shot (weight-sharing) search, written once over a supernet task and a controller.

:class:`OneShotSearch` interleaves supernet training and controller updates (TuNAS, Bender et al.
2020, §3.1; TabNAS, Yang et al. 2022, §3); :class:`WeightSharingTask` is what it needs from a
supernet and its data, and :class:`SupervisedTask` implements that for any supernet whose
``forward(x, child)`` runs a child.
"""

from budgetnas.oneshot.batches import BatchStream
from budgetnas.oneshot.loop import (
    Callback,
    Checkpoint,
    OneShotResult,
    OneShotSearch,
    StepRecord,
    policy_probabilities,
)
from budgetnas.oneshot.resume import (
    RunCheckpoint,
    checkpoint_progress,
    resume_if_checkpointed,
)
from budgetnas.oneshot.task import SupervisedTask, WeightSharingTask, accuracy_reward

__all__ = ["BatchStream", "Callback", "Checkpoint", "OneShotResult", "OneShotSearch",
           "RunCheckpoint", "StepRecord", "SupervisedTask", "WeightSharingTask",
           "accuracy_reward", "checkpoint_progress", "policy_probabilities",
           "resume_if_checkpointed"]
