"""Weight-sharing supernets: one set of weights that runs any child of a space by slicing."""

from budgetnas.supernet.mlp import MLPSupernet, SlicedAdam, warmup_probability, warmup_widths

__all__ = ["MLPSupernet", "SlicedAdam", "warmup_probability", "warmup_widths"]
