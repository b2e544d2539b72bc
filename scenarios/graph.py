"""Org graphs: hop distances between units, implicit for the complete graph and the ring.

A complete or ring graph of N units needs O(N) memory, not an N x N matrix (800 MB at 10,000
units); a ``MatrixGraph`` holds explicit distances for any other graph.

>>> ring = RingGraph(6)
>>> ring.distances(0, np.arange(6)).tolist(), ring.characteristic_length
([0.0, 1.0, 2.0, 3.0, 2.0, 1.0], 1.8)
>>> CompleteGraph(4).matrix().tolist()[0]
[0.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal, get_args

import numpy as np

from scenarios.errors import InputError

GraphName = Literal["complete", "ring"]
GRAPHS: tuple[GraphName, ...] = get_args(GraphName)


class Graph(ABC):
    """Hop distances d(i, j) >= 0 between the units of an organisation, 0 on the diagonal."""

    kind: str

    @property
    @abstractmethod
    def n_units(self) -> int: ...

    @abstractmethod
    def distances(self, source: int, targets: np.ndarray) -> np.ndarray:
        """d(source, j) for each j in ``targets``, as floats."""

    @abstractmethod
    def hop_sum(self) -> float:
        """Sum of d(i, j) over all ordered pairs."""

    @abstractmethod
    def permuted(self, order: np.ndarray) -> Graph:
        """The same graph with units relabelled so that new unit j is old unit order[j]."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]: ...

    def distance(self, source: int, target: int) -> float:
        return float(self.distances(source, np.array([target]))[0])

    @property
    def characteristic_length(self) -> float:
        """Mean hop distance between distinct units (1.0 for a complete graph)."""
        n = self.n_units
        return 1.0 if n < 2 else float(self.hop_sum() / (n * (n - 1)))

    def matrix(self) -> np.ndarray:
        """The dense N x N distance matrix (for small graphs: it needs N^2 floats)."""
        n = self.n_units
        every = np.arange(n)
        return np.stack([self.distances(i, every) for i in range(n)]) if n else np.zeros((0, 0))

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Graph:
        kind = d.get("kind")
        if kind == "complete":
            return CompleteGraph(int(d["n_units"]))
        if kind == "ring":
            return RingGraph(len(d["positions"]), np.asarray(d["positions"], dtype=np.int64))
        if kind == "matrix":
            return MatrixGraph(np.asarray(d["distance"], dtype=float))
        raise InputError("layout.graph.kind", f"must be complete, ring or matrix; got {kind!r}")


class CompleteGraph(Graph):
    """Every pair of distinct units one hop apart."""

    kind = "complete"

    def __init__(self, n_units: int) -> None:
        self._n = int(n_units)

    @property
    def n_units(self) -> int:
        return self._n

    def distances(self, source: int, targets: np.ndarray) -> np.ndarray:
        return (np.asarray(targets) != source).astype(float)

    def distance(self, source: int, target: int) -> float:
        return float(source != target)

    def hop_sum(self) -> float:
        return float(self._n * (self._n - 1))

    def permuted(self, order: np.ndarray) -> Graph:
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_units": self._n}


class RingGraph(Graph):
    """Units on a cycle; ``positions[i]`` is unit i's place on it (default: in unit order)."""

    kind = "ring"

    def __init__(self, n_units: int, positions: np.ndarray | None = None) -> None:
        self.positions = np.arange(n_units, dtype=np.int64) if positions is None else positions

    @property
    def n_units(self) -> int:
        return len(self.positions)

    def distances(self, source: int, targets: np.ndarray) -> np.ndarray:
        gap = np.abs(self.positions[np.asarray(targets)] - self.positions[source])
        return np.minimum(gap, self.n_units - gap).astype(float)

    def distance(self, source: int, target: int) -> float:
        gap = abs(int(self.positions[target]) - int(self.positions[source]))
        return float(min(gap, self.n_units - gap))

    def hop_sum(self) -> float:
        n = self.n_units
        return float(n * sum(min(j, n - j) for j in range(1, n)))

    def permuted(self, order: np.ndarray) -> Graph:
        return RingGraph(self.n_units, self.positions[np.asarray(order)])

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "positions": self.positions.tolist()}


class MatrixGraph(Graph):
    """Explicit distances, for graphs without a closed form."""

    kind = "matrix"

    def __init__(self, distance: np.ndarray) -> None:
        self.distance_matrix = np.asarray(distance, dtype=float)

    @property
    def n_units(self) -> int:
        return len(self.distance_matrix)

    def distances(self, source: int, targets: np.ndarray) -> np.ndarray:
        return self.distance_matrix[source, np.asarray(targets)]

    def hop_sum(self) -> float:
        return float(self.distance_matrix.sum())

    def permuted(self, order: np.ndarray) -> Graph:
        return MatrixGraph(self.distance_matrix[np.ix_(order, order)])

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "distance": self.distance_matrix.tolist()}


def make_graph(name: str, n_units: int) -> Graph:
    """The named org graph of ``n_units`` units."""
    if name == "complete":
        return CompleteGraph(n_units)
    if name == "ring":
        return RingGraph(n_units)
    raise InputError("org.graph", f"must be one of {', '.join(GRAPHS)}; got {name!r}")
