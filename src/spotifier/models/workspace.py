"""Per-thread scratch arrays for the hot loops of scoring.

A look-up by marking (write some cells, read others back, write the fill value back) beats a
sort or a binary search over thousands of candidates, but only if the array is not allocated and
filled on every call. Each thread keeps its own (the server scores in one thread while a hot
reload loads in another), so no lock is needed.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

_held = threading.local()


def per_thread(name: str, size: int, dtype: Any, fill: Any) -> np.ndarray:
    """This thread's array `name`, at least `size` cells, every cell `fill`: the caller must
    leave it so (write `fill` back to every cell it changed). It only ever grows.

    >>> a = per_thread("doctest", 4, np.int64, -1)
    >>> a[2] = 7; a[2] = -1
    >>> per_thread("doctest", 3, np.int64, -1) is a, len(per_thread("doctest", 6, np.int64, -1))
    (True, 6)
    """
    held = getattr(_held, name, None)
    if held is None or len(held) < size:
        held = np.full(size, fill, dtype=dtype)
        setattr(_held, name, held)
    return held
