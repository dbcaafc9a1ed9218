"""A binary min-heap of (float key, int value) pairs in two preallocated arrays, for compiled searches.

Stale entries are left in place: a search skips a popped value whose key is above its current
label (lazy deletion), so no decrease-key is needed.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True, inline="always")
def heap_push(hk, hv, size, key, val):
    """Push (key, val) onto the heap of ``size`` entries; returns the new size."""
    i = size
    hk[i] = key
    hv[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= hk[i]:
            break
        hk[p], hk[i] = hk[i], hk[p]
        hv[p], hv[i] = hv[i], hv[p]
        i = p
    return size + 1


@numba.njit(cache=True, inline="always")
def heap_pop(hk, hv, size):
    """Pop the smallest key: returns (key, val, new size)."""
    key = hk[0]
    val = hv[0]
    size -= 1
    hk[0] = hk[size]
    hv[0] = hv[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and hk[c + 1] < hk[c]:
            c += 1
        if hk[i] <= hk[c]:
            break
        hk[c], hk[i] = hk[i], hk[c]
        hv[c], hv[i] = hv[i], hv[c]
        i = c
    return key, val, size
