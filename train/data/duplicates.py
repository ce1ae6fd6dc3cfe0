"""Near-duplicate pairs by Hamming distance between difference hashes, and the groups they form.

All pairs are compared (5,708 images are 16 M pairs): the hashes are 4 uint64 words, XORed
and popcounted a block of rows at a time, which numpy does in about a second. Groups are
the connected components of the "within threshold" graph (union-find), so near-duplicates
of near-duplicates share a group too: a split that keeps groups whole cannot leak a chain.
Byte-identical files decode identically, so they are pairs at distance 0 and need no
separate pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_THRESHOLD = 5
"""Hamming distance (of 256 bits) at or below which two images are near-duplicates."""
_BLOCK_ROWS = 256

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


def near_pairs(hashes: Sequence[bytes], threshold: int = DEFAULT_THRESHOLD) -> np.ndarray:
    """(i, j, distance) rows, i < j, for every pair within ``threshold`` bits, sorted by (i, j)."""
    words = hashes_to_words(hashes)
    found = []
    for start in range(0, len(words), _BLOCK_ROWS):
        block = words[start : start + _BLOCK_ROWS]
        distances = _popcount_rows(block[:, None, :] ^ words[None, start:, :])
        rows, cols = np.nonzero(distances <= threshold)
        rows_abs, cols_abs = rows + start, cols + start
        upper = cols_abs > rows_abs
        found.append(np.stack([rows_abs[upper], cols_abs[upper], distances[rows, cols][upper]], axis=1))
    if not found:
        return np.zeros((0, 3), dtype=np.int64)
    return np.concatenate(found).astype(np.int64)


def connected_groups(count: int, pairs: np.ndarray) -> np.ndarray:
    """Union-find over ``pairs``: a component label per item (the smallest member index)."""
    parent = list(range(count))

    def find(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for first, second in pairs[:, :2].tolist():
        a, b = find(first), find(second)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([find(item) for item in range(count)], dtype=np.int64)
