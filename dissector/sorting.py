"""Stable sorting of integer keys, faster than numpy's stable sort of int64.

Why: numpy sorts int64 stably by timsort (~9 ms per 200k keys here) but 16-bit keys by radix
sort (~1 ms). Queue keys and group numbers are small, so they are radix-sorted 16 bits at a
time; the permutation is the same as ``np.argsort(key, kind="stable")``.
"""

from __future__ import annotations

import numpy as np


def stable_order(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")``: keys in 0..2**32 - 1 sorted by their low then their
    high 16 bits (both stable: the same order); others by numpy's stable sort."""
    if not len(key) or key.min() < 0 or key.max() >= 1 << 32:
        return np.argsort(key, kind="stable")
    order = np.argsort((key & 0xFFFF).astype(np.uint16), kind="stable")
    if key.max() < 1 << 16:
        return order
    return order[np.argsort((key[order] >> 16).astype(np.uint16), kind="stable")]


def positions(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Where each of ``values`` is in ``sorted_values`` (ascending; -1 absent; the first of equal
    ones): a binary search, without the hash table ``Index.get_indexer`` builds over a million
    values, nor the sort of ``values`` that ``np.isin`` makes."""
    if not len(sorted_values):
        return np.full(len(values), -1, np.int64)
    pos = np.searchsorted(sorted_values, values)
    found = pos < len(sorted_values)
    found[found] = sorted_values[pos[found]] == values[found]
    return np.where(found, pos, -1)


def isin(values: np.ndarray, members: np.ndarray | list[int]) -> np.ndarray:
    """``np.isin(values, members)`` for integers, by binary search in the sorted members: numpy
    sorts ``values`` when the members span a wide range (message ids: ~6 ms per 200k values)."""
    return positions(np.sort(np.asarray(members, np.int64).ravel()), np.asarray(values)) >= 0


def groups(codes: np.ndarray) -> list[np.ndarray]:
    """The rows of each distinct code >= 0 (negative: no group), groups in order of first
    appearance and rows ascending: what pandas' ``groupby(sort=False).indices`` gives for a
    column of these codes, from one radix sort instead of a hash of every row's value."""
    codes = np.asarray(codes, np.int64)
    if not len(codes):
        return []
    if codes.min() == codes.max():  # one capture, one group: no sort
        return [np.arange(len(codes))] if codes[0] >= 0 else []
    order = stable_order(np.maximum(codes + 1, 0))  # every negative code sorts first, dropped
    ordered = codes[order]
    bounds = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    parts = [p for p in np.split(order, bounds) if codes[p[0]] >= 0]
    parts.sort(key=lambda p: int(p[0]))  # each part's first row is its first appearance
    return parts


def distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` of integers: sorted, each once. numpy 2.4 answers a bare ``unique``
    from a hash table, ~100x slower than a sort here on some keys (0.5 s for 770k packed
    (group, frame) integers, where the sort takes 5 ms)."""
    ordered = np.sort(np.asarray(values).ravel())
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered
