"""Random search: each decision uniform over its candidates (the baseline of every NAS paper)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from budgetnas.search.base import SearchAlgorithm
from budgetnas.search.feasibility import Feasibility
from budgetnas.space import DNA, Spec

__all__ = ["Random"]


class Random(SearchAlgorithm):
    """Seeded uniform random search: each decision uniform over its candidates (PyGlove's
    ``pg.geno.Random``, papers.md §1).

    Draws children in blocks of ``chunk`` as one integer array (``Spec.sample_batch``) and turns
    the block into DNA at once, so proposing costs about a microsecond. With constraints,
    ``setup`` runs the shared up-front check (:class:`~budgetnas.search.feasibility.Feasibility`):
    an impossible budget raises at once naming the smallest achievable cost, and candidates that
    cannot fit are pruned. Children are then uniform per decision conditioned on feasibility:
    drawn from the enumerated feasible set when the space is small and unconditional, else by
    rejection within the pruned box, which gives up after ``max_rejections`` draws reporting the
    estimated feasible fraction. ``state_dict`` holds the generator state the current block was drawn from and the
    position in it, not the block: loading re-draws the block, so a resumed run continues
    exactly and the state stays a few hundred bytes.

    >>> algo = bn.Random(seed=0)

    Parameters
    ----------
    seed : int, optional
        Seeds the only random stream.
    chunk : int
        Children drawn per block.
    max_rejections : int
        Children one block may draw (rejection sampling) before :class:`InfeasibleBudgetError`.
    enumerate_limit : int
        Spaces with at most this many children are priced whole in ``setup``
        (see :class:`~budgetnas.search.feasibility.Feasibility`).

    Raises
    ------
    ValueError
        If ``chunk < 1``.
    InfeasibleBudgetError
        From ``setup`` when no child fits (naming the smallest achievable cost); from
        ``propose`` when ``max_rejections`` draws give no feasible child (with the estimated
        feasible fraction).
    """

    def __init__(self, seed: int | None = None, chunk: int = 256,
                 max_rejections: int = 1_000_000, enumerate_limit: int = 100_000) -> None:
        super().__init__(seed)
        self.chunk = int(chunk)
        self.max_rejections = int(max_rejections)
        self.enumerate_limit = int(enumerate_limit)
        self.feasibility: Feasibility | None = None
        if self.chunk < 1:
            raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
        self._buffer: list[DNA] = []
        self._pos = 0
        self._chunk_rng_state: dict[str, Any] | None = None  # the rng before the buffered chunk

    def setup(self, spec: Spec, constraints: Sequence[Any] = ()) -> None:
        super().setup(spec, constraints)
        self.feasibility = None
        if self.constraints:
            self.feasibility = Feasibility(spec, self.constraints,
                                           enumerate_limit=self.enumerate_limit,
                                           max_draws=self.max_rejections).analyse(self.rng)
        self._buffer, self._pos, self._chunk_rng_state = [], 0, None

    def propose(self) -> DNA:
        if self._pos >= len(self._buffer):
            self._refill()
        dna = self._buffer[self._pos]
        self._pos += 1
        return dna

    def _refill(self) -> None:
        """Draw the next block of feasible children (DNA conversion done once per block)."""
        spec = self._require_setup()
        state = self.rng.bit_generator.state
        feas = self.feasibility
        if feas is None:
            X = spec.sample_batch(self.chunk, self.rng)
        elif feas.uniform_over_feasible_set():
            X = feas.sample_uniform(self.chunk, self.rng)
        else:  # rejection in the pruned box; one feasible row is enough to fill a block
            X = feas.sample(self.chunk, self.rng, min_rows=1,
                            what="random children (uniform per decision)")
        self._buffer, self._pos, self._chunk_rng_state = spec.from_vectors(X), 0, state

    def state_dict(self) -> dict[str, Any]:
        # The buffered block is not stored: the rng state it was drawn from re-creates it exactly.
        return {**super().state_dict(), "chunk_rng": self._chunk_rng_state, "pos": self._pos,
                "buffered": len(self._buffer)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._require_setup()
        self._buffer, self._pos, self._chunk_rng_state = [], 0, None
        if state.get("chunk_rng") is not None and int(state["pos"]) < int(state["buffered"]):
            self.rng.bit_generator.state = state["chunk_rng"]
            self._refill()
            if len(self._buffer) != int(state["buffered"]):
                raise ValueError(
                    "the saved Random state does not re-create its buffered block (another space, "
                    "chunk size or constraint?); resume with the settings of the saved run")
            self._pos = int(state["pos"])
        super().load_state_dict(state)
