"""Near-duplicate pairs by Hamming distance between difference hashes, and the groups they form.

All pairs are compared (5,708 images are 16 M pairs): the hashes are 4 uint64 words, XORed
and popcounted a tile of rows by columns at a time, which numpy does in about a second. Groups
are the connected components of the "within threshold" graph (union-find), so near-duplicates
of near-duplicates share a group too: a split that keeps groups whole cannot leak a chain.
Byte-identical files decode identically, so they are pairs at distance 0 and need no
separate pass.

Pairs are joined into groups a tile at a time and never kept: 10,000 near-identical images
are 50 M pairs, gigabytes as a list, while a tile's are at most a few megabytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_THRESHOLD = 5
"""Hamming distance (of 256 bits) at or below which two images are near-duplicates."""
_BLOCK_ROWS = 256
_BLOCK_COLUMNS = 4096
"""A tile of 256 x 4096 hashes: 32 MB of XORed words, at most a million pairs, whatever the data set's size."""

_POPCOUNT_TABLE = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount_rows(words: np.ndarray) -> np.ndarray:
    """Set bits per row of a (..., k) uint64 array, summed over the last axis."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(words).sum(axis=-1, dtype=np.int32)
    as_bytes = words.view(np.uint8)
    return _POPCOUNT_TABLE[as_bytes].sum(axis=-1, dtype=np.int32)


def hashes_to_words(hashes: Sequence[bytes]) -> np.ndarray:
    """Packed hashes (equal lengths, multiple of 8 bytes) -> (n, k) uint64 array."""
    if not hashes:
        return np.zeros((0, 1), dtype=np.uint64)
    return np.frombuffer(b"".join(hashes), dtype=np.uint64).reshape(len(hashes), -1)


def near_pair_blocks(hashes: Sequence[bytes], threshold: int = DEFAULT_THRESHOLD) -> Iterator[np.ndarray]:
    """(i, j, distance) rows, i < j, of every pair within ``threshold`` bits, one tile of the comparison
    at a time (each pair in exactly one block), so memory is bounded by a tile, not by the pairs."""
    words = hashes_to_words(hashes)
    for start in range(0, len(words), _BLOCK_ROWS):
        block = words[start : start + _BLOCK_ROWS]
        for first_column in range(start, len(words), _BLOCK_COLUMNS):
            distances = _popcount_rows(block[:, None, :] ^ words[None, first_column : first_column + _BLOCK_COLUMNS, :])
            rows, cols = np.nonzero(distances <= threshold)
            upper = cols + first_column > rows + start
            if upper.any():
                rows, cols = rows[upper], cols[upper]
                yield np.stack([rows + start, cols + first_column, distances[rows, cols]], axis=1).astype(np.int64)


def near_pairs(hashes: Sequence[bytes], threshold: int = DEFAULT_THRESHOLD) -> np.ndarray:
    """Every pair of ``near_pair_blocks`` in one (n, 3) array sorted by (i, j): all in memory at once,
    so for data sets whose pairs are known to be few (the tests, a study); the audit streams them."""
    blocks = list(near_pair_blocks(hashes, threshold))
    if not blocks:
        return np.zeros((0, 3), dtype=np.int64)
    pairs = np.concatenate(blocks)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


class Components:
    """Union-find over items 0..count-1, joined a block of pairs at a time, in numpy.

    Every link points to a smaller index, so each root is its component's smallest member.
    """

    def __init__(self, count: int) -> None:
        self.parent = np.arange(count, dtype=np.int64)

    def join(self, pairs: np.ndarray) -> None:
        """Merge the components of each (i, j, ...) row's two items."""
        first, second = pairs[:, 0], pairs[:, 1]
        while len(first):
            a, b = self._roots(first), self._roots(second)
            apart = a != b
            first, second, a, b = first[apart], second[apart], a[apart], b[apart]
            # of several links proposed for one root the smallest wins; the rest are joined next time round
            np.minimum.at(self.parent, np.maximum(a, b), np.minimum(a, b))

    def _roots(self, items: np.ndarray) -> np.ndarray:
        while True:  # full path compression: parents halve the distance to their root each round
            grandparents = self.parent[self.parent]
            if np.array_equal(grandparents, self.parent):
                return self.parent[items]
            self.parent = grandparents

    def labels(self) -> np.ndarray:
        """A component label per item: the smallest member index."""
        return self._roots(np.arange(len(self.parent)))


@dataclass(frozen=True)
class NearDuplicates:
    """What the audit keeps of the pairs: the groups and the counts, not the pairs themselves."""

    components: np.ndarray
    """Component label per item (the smallest member index)."""
    pairs: int
    cross_pairs: int
    """Pairs whose two items are of different kinds (parts)."""
    near_same_kind: np.ndarray
    """Per item: has a near-duplicate of its own kind."""
    near_other_kind: np.ndarray
    """Per item: has a near-duplicate of another kind."""


def find_near_duplicates(
    hashes: Sequence[bytes], kinds: np.ndarray, threshold: int = DEFAULT_THRESHOLD
) -> NearDuplicates:
    """Group the near-duplicates of ``hashes`` and count their pairs, within and across ``kinds`` (one per hash),
    in memory bounded by a tile of the comparison."""
    count = len(hashes)
    components = Components(count)
    pairs = cross = 0
    same, other = np.zeros(count, dtype=bool), np.zeros(count, dtype=bool)
    for block in near_pair_blocks(hashes, threshold):
        components.join(block)
        crossing = kinds[block[:, 0]] != kinds[block[:, 1]]
        pairs += len(block)
        cross += int(crossing.sum())
        for flags, chosen in ((same, ~crossing), (other, crossing)):
            flags[block[chosen, 0]] = True
            flags[block[chosen, 1]] = True
    return NearDuplicates(components.labels(), pairs, cross, same, other)


def connected_groups(count: int, pairs: np.ndarray) -> np.ndarray:
    """Union-find over ``pairs``: a component label per item (the smallest member index)."""
    components = Components(count)
    components.join(pairs)
    return components.labels()
