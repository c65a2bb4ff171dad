"""Weight-sharing MLP supernet: every child MLP uses the first k units of each layer of the widest network.

This is the TabNAS supernet (Yang et al., NeurIPS 2022, arXiv 2204.07615, "weight sharing";
summarised in reference/papers.md §2): the supernet holds the widest layers; a child with hidden widths ``(k_1, ..., k_d)`` runs
``relu(x @ W_i[:k_i, :k_{i-1}].T + b_i[:k_i])`` per layer, so its compute scales with its own
size, not the supernet's. Depth varies too: a child may use fewer hidden layers than the
supernet has, and its last hidden layer then feeds the one shared output layer, sliced on its
input side. Layer warm-up (TabNAS, after TuNAS's filter warm-up, Bender et al., CVPR 2020,
papers.md §3) trains the widest layers with a probability that decays to zero early in the search.

For training, :class:`SlicedAdam` updates only the slices a child used (lazy Adam), from
gradients computed on those slices alone; one optimiser step then costs about what the same
step costs on a standalone MLP of the child's widths (see ``benchmarks/results/supernet_step.md``).

Example
-------
>>> import numpy as np, torch
>>> from budgetnas.supernet.mlp import MLPSupernet, SlicedAdam
>>> net = MLPSupernet(n_in=10, max_widths=[64, 64, 64], n_out=1)
>>> opt = SlicedAdam(net, lr=1e-3)
>>> x, y = torch.randn(32, 10), torch.randn(32, 1)
>>> loss = opt.train_step(x, y, [32, 16], torch.nn.functional.mse_loss)
>>> child = net.extract([32, 16])          # standalone nn.Sequential, same outputs
>>> torch.allclose(child(x), net(x, [32, 16]))
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from budgetnas.errors import SupernetError

__all__ = ["MLPSupernet", "SlicedAdam", "warmup_probability", "warmup_widths"]

Slices = list[tuple[nn.Parameter, tuple[slice, ...]]]


def warmup_widths(
    widths: Sequence[int], max_widths: Sequence[int], p: float, rng: np.random.Generator
) -> tuple[int, ...]:
    """Layer warm-up: replace each layer's width by its maximum with probability ``p``, independently.

    TabNAS layer warm-up (Yang et al., NeurIPS 2022; papers.md §2), the MLP form of TuNAS's
    filter warm-up (Bender et al., CVPR 2020; papers.md §3): early in the search the widest
    layers are trained often, so every unit gets trained before the controller starts to
    prefer small children.

    Parameters
    ----------
    widths : sequence of int
        A child's hidden widths (its depth ``d = len(widths)`` is kept).
    max_widths : sequence of int
        The supernet's maximum width per layer (at least ``d`` entries).
    p : float
        Replacement probability in [0, 1]; see :func:`warmup_probability` for the schedule.
    rng : numpy.random.Generator
        The source of randomness (one draw of ``d`` uniforms per call).

    Returns
    -------
    tuple of int
        The widths to train this step.

    Raises
    ------
    SupernetError
        If ``p`` is outside [0, 1] or ``widths`` is deeper than ``max_widths``.
    """
    if not 0.0 <= p <= 1.0:
        raise SupernetError(f"warm-up probability must be in [0, 1], got {p}")
    d = len(widths)
    if d > len(max_widths):
        raise SupernetError(
            f"child has {d} hidden layers but the supernet has {len(max_widths)}; "
            "use at most that many widths"
        )
    widen = rng.random(d) < p
    return tuple(int(m) if w else int(k) for k, m, w in zip(widths, max_widths, widen))


def warmup_probability(step: int, total_steps: int, warmup_fraction: float = 0.25) -> float:
    """Warm-up probability at a step: falls linearly from 1 to 0 over the first ``warmup_fraction`` of the steps.

    The TuNAS schedule (Bender et al., CVPR 2020; papers.md §3: the first 25 % of the steps), which
    TabNAS's layer warm-up follows.

    Parameters
    ----------
    step : int
        0-based step index.
    total_steps : int
        Steps of the whole search.
    warmup_fraction : float
        Share of the steps with warm-up, in [0, 1]; 0 disables warm-up.

    Returns
    -------
    float
        ``max(0, 1 - step / (warmup_fraction * total_steps))``.
    """
    if total_steps < 1 or not 0.0 <= warmup_fraction <= 1.0:
        raise SupernetError(
            f"need total_steps >= 1 and warmup_fraction in [0, 1], got {total_steps}, "
            f"{warmup_fraction}"
        )
    span = warmup_fraction * total_steps
    if span <= 0:
        return 0.0
    return max(0.0, 1.0 - step / span)


class MLPSupernet(nn.Module):
    """An MLP supernet whose children are width prefixes (and depth prefixes) of its layers.

    Parameters
    ----------
    n_in : int
        Input features.
    max_widths : sequence of int
        Maximum width of each hidden layer; the supernet's depth is ``len(max_widths)``.
    n_out : int
        Output units.

    Attributes
    ----------
    hidden : torch.nn.ModuleList
        ``Linear(max_widths[i-1], max_widths[i])`` per hidden layer (``n_in`` feeds the first).
    output : torch.nn.Linear
        ``Linear(max(max_widths), n_out)``; a child whose last hidden width is ``k`` uses its
        first ``k`` input columns.

    Raises
    ------
    SupernetError
        If a size is not a positive integer or ``max_widths`` is empty.
    """

    def __init__(self, n_in: int, max_widths: Sequence[int], n_out: int) -> None:
        super().__init__()
        sizes = [n_in, *max_widths, n_out]
        if not max_widths or any(int(s) != s or s < 1 for s in sizes):
            raise SupernetError(
                f"need positive integer sizes and at least one hidden layer, got n_in={n_in}, "
                f"max_widths={list(max_widths)}, n_out={n_out}"
            )
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.max_widths: tuple[int, ...] = tuple(int(w) for w in max_widths)
        self.hidden = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip((self.n_in, *self.max_widths[:-1]), self.max_widths)
        )
        self.output = nn.Linear(max(self.max_widths), self.n_out)

    @property
    def max_depth(self) -> int:
        """Number of hidden layers of the supernet."""
        return len(self.max_widths)

    def check_widths(self, widths: Sequence[int]) -> tuple[int, ...]:
        """Validate a child's hidden widths and return them as a tuple of int.

        Raises
        ------
        SupernetError
            If there are no widths, more widths than hidden layers, or a width outside
            ``1..max_widths[i]``.
        """
        ws = tuple(int(w) for w in widths)
        if not 1 <= len(ws) <= self.max_depth:
            raise SupernetError(
                f"a child needs 1 to {self.max_depth} hidden widths, got {list(ws)}"
            )
        for i, (w, m) in enumerate(zip(ws, self.max_widths)):
            if not 1 <= w <= m:
                raise SupernetError(
                    f"width {w} of hidden layer {i} is outside 1..{m} (the supernet's maximum); "
                    f"child widths {list(ws)}, supernet max_widths {list(self.max_widths)}"
                )
        return ws

    def child_slices(self, widths: Sequence[int]) -> Slices:
        """The (parameter, index) pairs a child uses, in order ``W_1, b_1, ..., W_out, b_out``.

        Returns
        -------
        list of (torch.nn.Parameter, tuple of slice)
            ``param[index]`` is the child's tensor: ``(k_i, k_{i-1})`` weights, ``(k_i,)`` biases,
            ``(n_out, k_d)`` output weights, ``(n_out,)`` output bias.

        Raises
        ------
        SupernetError
            See :meth:`check_widths`.
        """
        ws = self.check_widths(widths)
        out: Slices = []
        k_in = self.n_in
        for layer, k in zip(self.hidden, ws):
            out.append((layer.weight, (slice(0, k), slice(0, k_in))))
            out.append((layer.bias, (slice(0, k),)))
            k_in = k
        out.append((self.output.weight, (slice(None), slice(0, k_in))))
        out.append((self.output.bias, (slice(None),)))
        return out

    def child_parameters(self, widths: Sequence[int]) -> list[torch.Tensor]:
        """Leaf views of the child's slices, for gradients that cover the child alone.

        Each view shares storage with the supernet's parameter (in-place updates of the view
        change the supernet) and requires grad, so a backward pass through
        ``forward(x, widths, params=...)`` writes child-sized gradients into ``view.grad`` and
        nothing into the supernet's full-size ``.grad``. Use with :class:`SlicedAdam`.

        Returns
        -------
        list of torch.Tensor
            In the order of :meth:`child_slices`.
        """
        return [p.detach()[idx].requires_grad_() for p, idx in self.child_slices(widths)]

    def forward(
        self,
        x: torch.Tensor,
        widths: Sequence[int] | None = None,
        params: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Run the child with hidden widths ``widths`` on a batch.

        Parameters
        ----------
        x : torch.Tensor
            shape ``(batch, n_in)``.
        widths : sequence of int, optional
            The child's hidden widths (1 to ``max_depth`` of them); default: the full supernet.
        params : sequence of torch.Tensor, optional
            The child's tensors from :meth:`child_parameters`; default: slices of the
            parameters (autograd then fills the supernet's full-size ``.grad``, zero outside
            the slices, and any torch optimiser works).

        Returns
        -------
        torch.Tensor
            shape ``(batch, n_out)``. MACs: ``sum(k_{i-1} * k_i) + k_d * n_out`` per row.

        Raises
        ------
        SupernetError
            If ``widths`` does not fit (see :meth:`check_widths`) or ``params`` has the wrong
            length.
        """
        ws = self.max_widths if widths is None else widths
        if params is None:
            tensors = [p[idx] for p, idx in self.child_slices(ws)]
        else:
            tensors = list(params)
            if len(tensors) != 2 * len(ws) + 2:
                raise SupernetError(
                    f"params must hold {2 * len(ws) + 2} tensors for {len(ws)} hidden layers "
                    f"(from child_parameters(widths)), got {len(tensors)}"
                )
        h = x
        for i in range(0, len(tensors) - 2, 2):
            h = F.relu(F.linear(h, tensors[i], tensors[i + 1]))
        return F.linear(h, tensors[-2], tensors[-1])

    def num_params(self, widths: Sequence[int]) -> int:
        """Parameters (weights + biases) of a child: ``sum((in + 1) * out)`` over its layers.

        Raises
        ------
        SupernetError
            See :meth:`check_widths`.
        """
        sizes = [self.n_in, *self.check_widths(widths), self.n_out]
        return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))

    @torch.no_grad()
    def extract(self, widths: Sequence[int]) -> nn.Sequential:
        """A standalone ``Linear -> ReLU -> ... -> Linear`` network holding copies of the child's weights.

        Its outputs equal ``forward(x, widths)`` and its layout equals
        ``budgetnas.tabular.train.build_mlp(n_in, widths, n_out)``.

        Returns
        -------
        torch.nn.Sequential
            On the supernet's device and dtype, independent of the supernet's storage.

        Raises
        ------
        SupernetError
            See :meth:`check_widths`.
        """
        slices = self.child_slices(widths)
        layers: list[nn.Module] = []
        for j in range(0, len(slices), 2):
            (w, w_idx), (b, b_idx) = slices[j], slices[j + 1]
            weight, bias = w[w_idx], b[b_idx]
            lin = nn.Linear(
                weight.shape[1], weight.shape[0], device=weight.device, dtype=weight.dtype
            )
            lin.weight.copy_(weight)
            lin.bias.copy_(bias)
            layers.append(lin)
            if j + 2 < len(slices):
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def warmup_widths(
        self, widths: Sequence[int], p: float, rng: np.random.Generator
    ) -> tuple[int, ...]:
        """Layer warm-up for this supernet; see the module function :func:`warmup_widths`."""
        return warmup_widths(self.check_widths(widths), self.max_widths, p, rng)


class SlicedAdam:
    """Adam that updates only the parameter slices a child used (lazy Adam over weight-sharing slices).

    For each tensor a child used, the first and second moments and the weights are updated on
    that slice alone, with torch's Adam formula and bias correction by the number of steps that
    parameter has taken; entries outside the slice (weights and moments) stay as they are. With
    the same child every step, this is exactly ``torch.optim.Adam`` on that child. It differs
    from ``torch.optim.Adam`` over the whole supernet, whose momentum keeps moving weights a
    child did not use: here a step costs what the child's own Adam step costs.

    Works with any supernet that has ``child_slices(child)`` and ``child_parameters(child)`` in
    the form of :class:`MLPSupernet`.

    Parameters
    ----------
    supernet : torch.nn.Module
        The weight-sharing supernet.
    lr : float
        Learning rate.
    betas : tuple of float
        Moment decay rates.
    eps : float
        Denominator term.
    weight_decay : float
        L2 penalty added to the gradient (as in ``torch.optim.Adam``), on the used slices only.
    """

    def __init__(
        self,
        supernet: nn.Module,
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if lr <= 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1) or eps <= 0 or weight_decay < 0:
            raise SupernetError(
                f"need lr > 0, betas in [0, 1), eps > 0, weight_decay >= 0; got lr={lr}, "
                f"betas={betas}, eps={eps}, weight_decay={weight_decay}"
            )
        self.supernet = supernet
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self._params = list(supernet.parameters())
        self._index = {id(p): i for i, p in enumerate(self._params)}
        self._exp_avg = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self._params
        ]
        self._exp_avg_sq = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self._params
        ]
        self._steps = [0] * len(self._params)

    @torch.no_grad()
    def step(self, child: Any, params: Sequence[torch.Tensor]) -> None:
        """Apply one Adam update to the slices of ``child`` from the gradients in ``params``.

        Parameters
        ----------
        child : sequence of int
            The child (for :class:`MLPSupernet`, its hidden widths) the gradients belong to.
        params : sequence of torch.Tensor
            The views from ``supernet.child_parameters(child)`` after ``backward()``; a view
            without ``.grad`` is skipped.

        Raises
        ------
        SupernetError
            If ``params`` does not match the child's slices.
        """
        slices = self.supernet.child_slices(child)
        if len(slices) != len(params):
            raise SupernetError(
                f"got {len(params)} tensors for a child with {len(slices)} slices; pass the "
                "list returned by supernet.child_parameters(child)"
            )
        b1, b2 = self.betas
        for (full, idx), view in zip(slices, params):
            grad = view.grad
            if grad is None:
                continue
            i = self._index[id(full)]
            self._steps[i] += 1
            t = self._steps[i]
            weights = full.detach()[idx]
            if self.weight_decay:
                grad = grad.add(weights, alpha=self.weight_decay)
            m, v = self._exp_avg[i][idx], self._exp_avg_sq[i][idx]
            m.mul_(b1).add_(grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            denom = (v.sqrt() / math.sqrt(1 - b2**t)).add_(self.eps)
            weights.addcdiv_(m, denom, value=-self.lr / (1 - b1**t))

    def train_step(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        child: Any,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """One training step of ``child`` on a batch: forward, backward, sliced Adam update.

        Parameters
        ----------
        x : torch.Tensor
            Input batch, e.g. ``(batch, n_in)``.
        y : torch.Tensor
            Targets as ``loss_fn`` expects them.
        child : sequence of int
            The child to train (hidden widths for :class:`MLPSupernet`).
        loss_fn : callable
            ``loss_fn(outputs, y) -> scalar tensor``.

        Returns
        -------
        torch.Tensor
            The batch loss (detached scalar).
        """
        params = self.supernet.child_parameters(child)
        loss = loss_fn(self.supernet(x, child, params=params), y)
        loss.backward()
        self.step(child, params)
        return loss.detach()

    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state (moments per supernet parameter, step counts, hyper-parameters)."""
        return {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "steps": list(self._steps),
            "exp_avg": [t.clone() for t in self._exp_avg],
            "exp_avg_sq": [t.clone() for t in self._exp_avg_sq],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` taken from an optimiser of a supernet of the same shape.

        Raises
        ------
        SupernetError
            If the number or shapes of the saved tensors differ from this supernet's.
        """
        shapes = [tuple(p.shape) for p in self._params]
        saved = [tuple(t.shape) for t in state["exp_avg"]]
        if saved != shapes:
            raise SupernetError(
                f"optimiser state is for parameter shapes {saved}, this supernet has {shapes}"
            )
        self.lr, self.betas = float(state["lr"]), tuple(state["betas"])  # type: ignore[assignment]
        self.eps, self.weight_decay = float(state["eps"]), float(state["weight_decay"])
        self._steps = [int(s) for s in state["steps"]]
        for dst, src in zip(
            self._exp_avg + self._exp_avg_sq, state["exp_avg"] + state["exp_avg_sq"]
        ):
            dst.copy_(src)
