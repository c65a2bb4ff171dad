"""Neural Predictor (Wen et al., ECCV 2020): learn DNA → reward from a few trained children, then
train only the children the regressor ranks highest.

Two regressors: an MLP on the one-hot encoding of the decisions (chain spaces), and the
bidirectional graph-convolution network of the paper for cell spaces (``graph=`` gives each
child's adjacency and node features; :func:`nb201_graph` does it for NAS-Bench-201 cells).
Ranking quality is Kendall τ (:meth:`NeuralPredictor.kendall_tau`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from budgetnas.errors import SearchConfigError, SearchExhausted
from budgetnas.search.base import SearchAlgorithm, reward_of
from budgetnas.search.feasibility import Feasibility
from budgetnas.space import DNA, Spec

__all__ = ["NeuralPredictor", "nb201_graph", "onehot_encode"]

GraphFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

# NAS-Bench-201 edges (to, from) in DNA-vector order, as budgetnas.nasbench.nb201.NB201_EDGES
_NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
_NB201_NUM_OPS = 5  # none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3


def onehot_encode(X: np.ndarray, num_choices: Sequence[int]) -> np.ndarray:
    """One-hot of each decision, concatenated: ``(n, Σ num_choices)`` float32; zeros for an
    inactive (-1) decision."""
    nc = np.asarray(num_choices, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(nc)[:-1]])
    out = np.zeros((len(X), int(nc.sum())), dtype=np.float32)
    rows, cols = np.nonzero(X >= 0)
    out[rows, offsets[cols] + X[rows, cols]] = 1.0
    return out


def nb201_graph(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NAS-Bench-201 cells as op-on-node graphs for the GCN predictor.

    Each of the 6 edges becomes a node carrying its op; an input node feeds the edges leaving
    cell node 0, an edge (j ← i) feeds every edge leaving cell node j, and the edges into cell
    node 3 feed an output node. A ``none`` edge carries no data: its node keeps its feature but
    loses its connections.

    Parameters
    ----------
    X : int64 (n, 6)
        DNA vectors in the edge order of :mod:`budgetnas.nasbench.nb201`.

    Returns
    -------
    A : float32 (n, 8, 8)
        ``A[k, u, v] = 1`` when node u feeds node v (0 input, 1..6 edges, 7 output).
    F : float32 (n, 8, 7)
        One-hot node type: input, output, then the 5 ops.
    """
    X = np.asarray(X, dtype=np.int64)
    n, V = len(X), len(_NB201_EDGES) + 2
    base = np.zeros((V, V), dtype=np.float32)
    for e, (to, frm) in enumerate(_NB201_EDGES):
        if frm == 0:
            base[0, 1 + e] = 1.0
        for f, (_, frm2) in enumerate(_NB201_EDGES):
            if frm2 == to:
                base[1 + e, 1 + f] = 1.0
        if to == 3:
            base[1 + e, V - 1] = 1.0
    A = np.repeat(base[None], n, axis=0)
    live = np.concatenate([np.ones((n, 1)), X != 0, np.ones((n, 1))], axis=1).astype(np.float32)
    A *= live[:, :, None] * live[:, None, :]
    F = np.zeros((n, V, 2 + _NB201_NUM_OPS), dtype=np.float32)
    F[:, 0, 0] = 1.0
    F[:, V - 1, 1] = 1.0
    F[np.arange(n)[:, None], np.arange(1, V - 1)[None, :], 2 + X] = 1.0
    return A, F


def _uniform(torch: Any, shape: tuple[int, ...], fan_in: int, gen: Any) -> Any:
    """``nn.Linear``'s default initialisation, U(−1/√fan_in, 1/√fan_in), from ``gen``."""
    bound = 1.0 / np.sqrt(fan_in)
    return (torch.rand(shape, generator=gen) * 2.0 - 1.0) * bound


def _build_mlp(torch: Any, E: int, d_in: int, hidden: Sequence[int], gen: Any) -> Any:
    nn = torch.nn
    dims = [d_in, *hidden, 1]

    class MLPEnsemble(nn.Module):
        """E independent MLPs trained as one batched network: weights ``(E, a, b)``."""

        def __init__(self) -> None:
            super().__init__()
            self.W = nn.ParameterList(nn.Parameter(_uniform(torch, (E, a, b), a, gen))
                                      for a, b in zip(dims[:-1], dims[1:]))
            self.b = nn.ParameterList(nn.Parameter(_uniform(torch, (E, 1, b), a, gen))
                                      for a, b in zip(dims[:-1], dims[1:]))

        def forward(self, X: Any) -> Any:  # (n, d_in) -> (E, n)
            H = X.expand(E, *X.shape)
            for i, (W, b) in enumerate(zip(self.W, self.b)):
                H = torch.baddbmm(b, H, W)
                if i < len(self.W) - 1:
                    H = torch.relu(H)
            return H[..., 0]

    return MLPEnsemble()


def _build_gcn(torch: Any, E: int, f_in: int, width: int, depth: int, head: int,
               gen: Any) -> Any:
    nn = torch.nn
    dims = [f_in] + [width] * depth

    def weights(a: int, b: int) -> tuple[Any, Any]:
        return (nn.Parameter(_uniform(torch, (E, a, b), a, gen)),
                nn.Parameter(_uniform(torch, (E, 1, 1, b), a, gen)))

    class BiGCN(nn.Module):
        """E bidirectional GCNs (Wen et al. 2020, §3) batched: separate weights for forward and
        backward messages, mean over nodes, then a small head."""

        def __init__(self) -> None:
            super().__init__()
            pairs = [(weights(a, b), weights(a, b)) for a, b in zip(dims[:-1], dims[1:])]
            self.fw = nn.ParameterList(p[0][0] for p in pairs)
            self.fb = nn.ParameterList(p[0][1] for p in pairs)
            self.bw = nn.ParameterList(p[1][0] for p in pairs)
            self.bb = nn.ParameterList(p[1][1] for p in pairs)
            self.hw1, self.hb1 = weights(width, head)
            self.hw2, self.hb2 = weights(head, 1)

        def forward(self, A: Any, F: Any) -> Any:  # (n, V, V), (n, V, f) -> (E, n)
            eye = torch.eye(A.shape[1], dtype=A.dtype)
            Af = A.transpose(1, 2) + eye  # a node hears its inputs (and itself)
            Ab = A + eye                  # ... and, with other weights, its outputs
            Af = Af / Af.sum(dim=2, keepdim=True)
            Ab = Ab / Ab.sum(dim=2, keepdim=True)
            H = F.expand(E, *F.shape)
            for fw, fb, bw, bb in zip(self.fw, self.fb, self.bw, self.bb):
                hf = torch.einsum("envi,eio->envo", H, fw) + fb
                hb = torch.einsum("envi,eio->envo", H, bw) + bb
                H = torch.relu(0.5 * (Af @ hf + Ab @ hb))
            G = H.mean(dim=2)  # (E, n, width)
            G = torch.relu(torch.baddbmm(self.hb1[:, 0], G, self.hw1))
            return torch.baddbmm(self.hb2[:, 0], G, self.hw2)[..., 0]

    return BiGCN()


class NeuralPredictor(SearchAlgorithm):
    """Neural Predictor search (Wen et al., ECCV 2020): random children first, then the top of a
    learned regressor's ranking.

    >>> algo = bn.NeuralPredictor(num_initial=50, num_candidates=10_000, top_k=10, seed=0)

    The first ``num_initial`` proposals are random feasible children. Once their rewards are in,
    a regressor is fitted on every (DNA, reward) seen, ``num_candidates`` unseen feasible
    children are predicted (every unseen feasible child when the feasible set was enumerated and
    is smaller), and the ``top_k`` are proposed; then it refits and repeats. A child is never
    proposed twice.

    Parameters
    ----------
    num_initial : int
        N, random children trained before the first fit.
    num_candidates : int
        M, children predicted per round.
    top_k : int
        K, children proposed per round.
    model : {"auto", "mlp", "gcn"}
        ``"auto"``: the GCN when ``graph`` is given, else the MLP on one-hot decisions.
    graph : callable X (n, D) -> (A (n, V, V), F (n, V, f)), optional
        Adjacency and node features of each child, for the GCN (e.g. :func:`nb201_graph`).
    hidden : sequence of int
        MLP hidden widths.
    gcn_width, gcn_layers, gcn_head : int
        GCN sizes (paper: 3 layers of 144, head 128).
    epochs, lr, weight_decay, batch_size :
        Adam training on the target (below) with MSE. The paper's reproduction uses lr 1e-4,
        batch 10, 300 epochs; the defaults here (lr 1e-3, full batch) train in a fraction of
        the time with similar ranking on the tables we benchmark.
    ensemble : int
        Regressors trained at once (one batched network, different initialisations); their
        mean prediction ranks the candidates, averaging out initialisation noise (an addition
        to Wen et al. 2020, not in the paper's procedure).
    target : {"standardise", "rank"}
        ``"standardise"``: (y − mean) / std. ``"rank"``: the normal score of each reward's rank,
        so a long tail of failed children (NAS-Bench-201's 10 % cells) does not dominate the
        loss (the job of the paper's two-stage cascade, papers.md §5); predictions are mapped
        back to reward units monotonically.
    warm_start : bool
        From the second round on, continue training the previous round's regressor for
        ``warm_epochs`` epochs instead of ``epochs`` from scratch (its weights are part of
        ``state_dict``, so a resumed search continues exactly).
    warm_epochs : int, optional
        Epochs of a warm-started round (default ``max(1, epochs // 4)``).
    num_threads : int or None
        Torch intra-op threads while fitting / predicting (restored after); None leaves torch's
        setting. One is fastest for these small models.
    seed : int, optional
        Drives sampling and every model initialisation.
    enumerate_limit, max_draws : see :class:`~budgetnas.search.feasibility.Feasibility`.

    Attributes
    ----------
    round_taus_ : list of float
        Kendall τ between predicted and observed rewards of each round's K proposals, once
        evaluated (held out from the model that chose them).

    Raises
    ------
    SearchConfigError
        Bad sizes, an unknown model, ``"gcn"`` without ``graph``, or floats in the space.
    """

    def __init__(self, num_initial: int = 50, num_candidates: int = 10_000, top_k: int = 10, *,
                 model: str = "auto", graph: GraphFn | None = None,
                 hidden: Sequence[int] = (64, 64), gcn_width: int = 144, gcn_layers: int = 3,
                 gcn_head: int = 128, epochs: int = 300, lr: float = 1e-3,
                 weight_decay: float = 1e-3, batch_size: int | None = None,
                 ensemble: int = 1, target: str = "standardise", warm_start: bool = False,
                 warm_epochs: int | None = None,
                 num_threads: int | None = 1, seed: int | None = None,
                 enumerate_limit: int = 100_000, max_draws: int = 2_000_000) -> None:
        super().__init__(seed)
        if ensemble < 1:
            raise SearchConfigError(f"ensemble must be >= 1, got {ensemble}")
        if target not in ("standardise", "rank"):
            raise SearchConfigError(f"target must be 'standardise' or 'rank', got {target!r}")
        self.ensemble, self.target, self.warm_start = int(ensemble), target, bool(warm_start)
        self.warm_epochs = max(1, epochs // 4) if warm_epochs is None else int(warm_epochs)
        self.num_threads = num_threads
        if min(num_initial, num_candidates, top_k) < 1:
            raise SearchConfigError(f"num_initial, num_candidates and top_k must be >= 1, got "
                                    f"{num_initial}, {num_candidates}, {top_k}")
        if model not in ("auto", "mlp", "gcn"):
            raise SearchConfigError(f"model must be 'auto', 'mlp' or 'gcn', got {model!r}")
        if model == "gcn" and graph is None:
            raise SearchConfigError("model='gcn' needs graph= (a function X -> (A, F)), e.g. "
                                    "budgetnas.search.predictor.nb201_graph")
        self.num_initial, self.num_candidates, self.top_k = num_initial, num_candidates, top_k
        self.model = "gcn" if model == "auto" and graph is not None else (
            "mlp" if model == "auto" else model)
        self.graph = graph
        self.hidden, self.gcn_width, self.gcn_layers, self.gcn_head = (
            tuple(hidden), gcn_width, gcn_layers, gcn_head)
        self.epochs, self.lr, self.weight_decay, self.batch_size = epochs, lr, weight_decay, batch_size
        self.enumerate_limit, self.max_draws = int(enumerate_limit), int(max_draws)
        self.feasibility: Feasibility | None = None
        self.round_taus_: list[float] = []
        self._reset()

    def _reset(self) -> None:
        self._X: list[list[int]] = []
        self._y: list[float] = []
        self._seen: set[tuple[int, ...]] = set()
        self._queue: list[list[int]] = []
        self._queue_pred: dict[tuple[int, ...], float] = {}
        self._round: list[tuple[float, float]] = []
        self._num_proposed = 0
        self._net: Any = None
        self._stats = (0.0, 1.0)
        self._back: tuple[np.ndarray, np.ndarray] | None = None  # rank target: z -> reward

    def setup(self, spec: Spec, constraints: Sequence[Any] = ()) -> None:
        if not spec.is_choice_only:
            raise SearchConfigError("NeuralPredictor encodes categorical decisions only; this "
                                    "space has floatv decision points")
        super().setup(spec, constraints)
        self.feasibility = Feasibility(spec, constraints, enumerate_limit=self.enumerate_limit,
                                       max_draws=self.max_draws).analyse(self.rng)
        self._reset()
        self.round_taus_ = []

    # ------------------------------------------------------------------ proposals
    def propose(self) -> DNA:
        spec = self._require_setup()
        if self._num_proposed < self.num_initial:
            x = self._random_unseen(1)[0]
        else:
            if not self._queue:
                self._next_round()
            x = np.asarray(self._queue.pop(0), dtype=np.int64)
        self._seen.add(tuple(int(v) for v in x))
        self._num_proposed += 1
        return spec.from_vector(x)

    def _random_unseen(self, n: int) -> np.ndarray:
        assert self.feasibility is not None
        feas = self.feasibility
        if feas.feasible_set is not None:
            pool = self._unseen_feasible()
            if len(pool) == 0:
                raise SearchExhausted("every feasible child has been proposed")
            return pool[self.rng.choice(len(pool), size=min(n, len(pool)), replace=False)]
        D = self.spec.num_decisions
        seen = (np.array(sorted(self._seen), dtype=np.int64).reshape(-1, D) if self._seen
                else np.empty((0, D), dtype=np.int64))
        out = np.empty((0, D), dtype=np.int64)
        stale = 0
        for _ in range(50):  # bounded: a small feasible set runs out of unseen children
            X = feas.sample_uniform(max(2 * n, 64), self.rng)
            _, first = np.unique(X, axis=0, return_index=True)
            X = X[np.sort(first)]
            X = X[~_rows_in(X, seen) & ~_rows_in(X, out)]
            out = np.concatenate([out, X])[:n]
            if len(out) >= n:
                return out
            stale = stale + 1 if len(X) == 0 else 0
            if stale >= 3:
                break
        if len(out):
            return out
        raise SearchExhausted("no unseen feasible child found in 50 blocks of random draws")

    def _unseen_feasible(self) -> np.ndarray:
        assert self.feasibility is not None and self.feasibility.feasible_set is not None
        fs = self.feasibility.feasible_set
        if not self._seen:
            return fs
        seen = np.array(sorted(self._seen), dtype=np.int64)
        keep = ~_rows_in(fs, seen)
        return fs[keep]

    def _next_round(self) -> None:
        X = np.asarray(self._X, dtype=np.int64).reshape(-1, self.spec.num_decisions)
        y = np.asarray(self._y, dtype=np.float64)
        if len(y) < 2:  # nothing to learn from yet: stay random
            self._queue = [r.tolist() for r in self._random_unseen(self.top_k)]
            return
        self.fit(X, y)
        fs = self.feasibility.feasible_set if self.feasibility is not None else None
        if fs is not None:
            cand = self._unseen_feasible()
            if len(cand) > self.num_candidates:
                cand = cand[self.rng.choice(len(cand), size=self.num_candidates, replace=False)]
        else:
            cand = self._random_unseen(self.num_candidates)
        if len(cand) == 0:
                raise SearchExhausted("every feasible child has been proposed")
        pred = self.predict(cand)
        order = np.argsort(-pred, kind="stable")[: self.top_k]
        self._queue = [cand[i].tolist() for i in order]
        self._queue_pred = {tuple(cand[i].tolist()): float(pred[i]) for i in order}

    def feedback(self, dna: DNA, reward: float | Mapping[str, float]) -> None:
        spec = self._require_setup()
        x = spec.to_vector(dna)
        r = reward_of(reward)
        self._X.append(x.tolist())
        self._y.append(r)
        key = tuple(int(v) for v in x)
        if key in self._queue_pred:
            self._round.append((self._queue_pred.pop(key), r))
            if not self._queue_pred and len(self._round) >= 2:
                p, t = zip(*self._round)
                self.round_taus_.append(_kendall(np.array(p), np.array(t)))
                self._round = []

    # ------------------------------------------------------------------ the regressor
    def _features(self, X: np.ndarray) -> tuple[Any, ...]:
        import torch

        if self.model == "gcn":
            assert self.graph is not None
            A, F = self.graph(X)
            return torch.as_tensor(A, dtype=torch.float32), torch.as_tensor(F, dtype=torch.float32)
        return (torch.as_tensor(onehot_encode(X, self.spec.num_choices)),)

    def fit(self, X: np.ndarray, y: np.ndarray) -> NeuralPredictor:
        """Fit the regressor(s) on children ``X`` (int64 ``(n, D)``) and rewards ``y`` (n,).

        Seeded from this algorithm's generator, so a resumed search refits identically. With
        ``warm_start``, a previous fit is continued for ``warm_epochs`` epochs.
        """
        import torch

        seed = int(self.rng.integers(2**31))
        t = self._target(np.asarray(y, dtype=np.float64))
        target = torch.as_tensor(t, dtype=torch.float32)[None, :]
        feats = self._features(np.asarray(X, dtype=np.int64))
        gen = torch.Generator().manual_seed(seed)
        with _threads(torch, self.num_threads):
            warm = self.warm_start and self._net is not None
            net = self._net if warm else self._build(feats, gen)
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            n = target.shape[1]
            bs = n if self.batch_size is None else int(self.batch_size)
            net.train()
            for _ in range(self.warm_epochs if warm else self.epochs):
                order = torch.randperm(n, generator=gen) if bs < n else None
                for start in range(0, n, bs):
                    idx = order[start:start + bs] if order is not None else slice(None)
                    opt.zero_grad()
                    err = net(*(f[idx] for f in feats)) - target[:, idx]
                    # each member's own mean squared error: members train independently
                    loss = (err ** 2).mean(dim=1).sum()
                    loss.backward()
                    opt.step()
        self._net = net.eval()
        return self

    def _build(self, feats: tuple[Any, ...], gen: Any) -> Any:
        import torch

        if self.model == "gcn":
            return _build_gcn(torch, self.ensemble, feats[1].shape[2], self.gcn_width,
                              self.gcn_layers, self.gcn_head, gen)
        return _build_mlp(torch, self.ensemble, feats[0].shape[1], self.hidden, gen)

    def _target(self, y: np.ndarray) -> np.ndarray:
        """The regression target of rewards ``y`` (and how to map predictions back)."""
        mu, sd = float(np.mean(y)), float(np.std(y)) or 1.0
        self._stats = (mu, sd)
        if self.target == "standardise":
            self._back = None
            return (y - mu) / sd
        from scipy.stats import norm, rankdata

        z = norm.ppf((rankdata(y) - 0.5) / len(y))
        z = (z - z.mean()) / (z.std() or 1.0)
        order = np.argsort(z, kind="stable")
        self._back = (z[order], y[order])
        return z

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted rewards ``(n,)`` of children ``X`` (int64 ``(n, D)``), in reward units: the
        ensemble's mean prediction, mapped back from the target's scale (monotone).

        Raises
        ------
        RuntimeError
            Before the first :meth:`fit`.
        """
        import torch

        if self._net is None:
            raise RuntimeError("the predictor has not been fitted yet (call fit, or wait for "
                               "num_initial rewards)")
        out = []
        with torch.no_grad(), _threads(torch, self.num_threads):
            for start in range(0, len(X), 8192):
                feats = self._features(np.asarray(X[start:start + 8192], dtype=np.int64))
                out.append(self._net(*feats).mean(dim=0).numpy())
        z = np.concatenate(out).astype(np.float64)
        mu, sd = self._stats
        if self._back is None:
            return z * sd + mu
        zs, ys = self._back
        # inside the training range: the empirical quantile map; outside: linear with slope sd
        y = np.interp(z, zs, ys)
        y = np.where(z < zs[0], ys[0] + (z - zs[0]) * sd, y)
        return np.where(z > zs[-1], ys[-1] + (z - zs[-1]) * sd, y)

    def kendall_tau(self, X: np.ndarray, y: np.ndarray) -> float:
        """Kendall τ between predictions for ``X`` and observed rewards ``y`` (held-out trials)."""
        return _kendall(self.predict(X), np.asarray(y, dtype=np.float64))

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "X": self._X, "y": self._y,
                "seen": [list(s) for s in sorted(self._seen)], "queue": self._queue,
                "queue_pred": [[list(k), v] for k, v in self._queue_pred.items()],
                "round": [list(r) for r in self._round], "num_proposed": self._num_proposed,
                "round_taus": list(self.round_taus_),
                # a warm-started regressor is part of the state (else refitted from scratch)
                "net": ([p.detach().numpy().tolist() for p in self._net.parameters()]
                        if self.warm_start and self._net is not None else None)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._require_setup()
        self._X = [list(map(int, x)) for x in state["X"]]
        self._y = [float(v) for v in state["y"]]
        self._seen = {tuple(int(v) for v in s) for s in state["seen"]}
        self._queue = [list(map(int, q)) for q in state["queue"]]
        self._queue_pred = {tuple(int(v) for v in k): float(v) for k, v in state["queue_pred"]}
        self._round = [(float(a), float(b)) for a, b in state["round"]]
        self._num_proposed = int(state["num_proposed"])
        self.round_taus_ = [float(t) for t in state["round_taus"]]
        self._net = None  # refitted (with the saved generator state) at the next round
        if self.warm_start and state.get("net") is not None:
            self._restore_net(state["net"])

    def _restore_net(self, arrays: Sequence[Any]) -> None:
        import torch

        D = self.spec.num_decisions
        feats = self._features(np.zeros((1, D), dtype=np.int64))
        net = self._build(feats, torch.Generator().manual_seed(0))
        with torch.no_grad():
            for p, a in zip(net.parameters(), arrays):
                p.copy_(torch.as_tensor(np.asarray(a), dtype=p.dtype))
        self._net = net.eval()


@contextlib.contextmanager
def _threads(torch: Any, n: int | None) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads (restored after): tiny models train fastest on one."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _rows_in(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Bool (len(A),): which rows of A occur in B (rows as void scalars, one np.isin)."""
    A = np.ascontiguousarray(A, dtype=np.int64)
    B = np.ascontiguousarray(B, dtype=np.int64)
    dt = np.dtype((np.void, A.dtype.itemsize * A.shape[1]))
    return np.isin(A.view(dt).ravel(), B.view(dt).ravel())


def _kendall(pred: np.ndarray, truth: np.ndarray) -> float:
    from scipy.stats import kendalltau

    if len(pred) < 2:
        return float("nan")
    return float(kendalltau(pred, truth).statistic)
