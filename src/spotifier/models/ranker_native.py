"""The hybrid's LightGBM ranker compiled to native code (lleaves), with LightGBM's own answers.

`native_ranker(booster, cuts)` wraps a loaded booster and compiles its trees in a background
thread, split at the iterations the hybrid asks for separately (its cascade: the first
`cascade_trees` for every candidate, the rest for each query's best), each span into one native
function with LLVM (`lleaves`). Until a span is compiled, LightGBM answers for it: a loaded hybrid
answers at once, and a one-off `spotifier recommend` never waits for a compiler. The compiled
code is built in this process from the booster's own text, never read from a file: a model folder
holds only `ranker.txt`, and nothing executable comes from a user's disk.

Why: LightGBM's `predict` walks its trees in a generic interpreter; at serving batch sizes it was
half of the hybrid's CPU per request (bench/RESULTS.md), and compiled trees are plain branches.

Exactness: every tree is inlined, and a span is cut into cache blocks of `BLOCK_TREES` trees
(lleaves runs each block over all rows before the next). Inside a block a row's trees are summed in
LightGBM's order starting from 0, in float64, with the same comparisons, so a span of at most
`BLOCK_TREES` trees gives LightGBM's numbers bit for bit; a longer one adds its blocks' sums, which
can differ from LightGBM's running sum in the last bits (at most 3.3e-15 on the default world's
ranker; the hybrid's 2,000 held-out lists there stayed identical, bench/RESULTS.md). Each span is
checked against LightGBM before use, on rows drawn from the model's own split thresholds (NaN
included), and is not used if any score differs by more than `TOLERANCE`. Why blocks: inlining
250 trees as one block took 41 s of compiling; in blocks of 50 it takes ~9 s and runs the 250
trees 2.5x as fast as calling them uninlined (measured on the default world's batches of 16).

Who compiles: compiling costs ~8 s of CPU per hybrid load (the default world's 300 trees),
which only a long-lived process wins back, so it is opt-in per process. `spotifier serve` and its
workers call `compile_on_load()` before loading models (a hot reload compiles too); a plain
process (`spotifier recommend`, a notebook, a test) gets LightGBM alone and starts no thread.
`SPOTIFIER_NATIVE_RANKER=0` turns the compiler off everywhere, `SPOTIFIER_NATIVE_RANKER=1` turns
it on everywhere; without lleaves it is off.
"""

from __future__ import annotations

import itertools
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Largest difference from LightGBM's raw score that a compiled span may show when checked.
TOLERANCE = 1e-5
#: Rows drawn from the model's thresholds for the check.
PROBE_ROWS = 512
#: Trees per cache block (and per inlined function body): spans this short are bit-exact.
BLOCK_TREES = 50


class NativeRanker:
    """A LightGBM `Booster` whose `predict` runs compiled code for the spans compiled so far.

    It answers the Booster calls the hybrid makes (`predict` with `start_iteration` /
    `num_iteration` / `num_threads`, `current_iteration`, `num_feature`, `save_model`); anything
    else goes to the booster itself.
    """

    def __init__(self, booster: Any, spans: Sequence[tuple[int, int]]) -> None:
        self.booster = booster
        self.wanted = list(spans)
        self.spans: dict[tuple[int, int], Any] = {}  # (first iteration, end) -> lleaves model
        self.done = threading.Event()
        self._cancelled = threading.Event()

    def __getattr__(self, name: str) -> Any:
        if name == "booster":  # not set yet (e.g. while copying): no recursion
            raise AttributeError(name)
        return getattr(self.booster, name)

    def current_iteration(self) -> int:
        return int(self.booster.current_iteration())

    def predict(
        self,
        x: np.ndarray,
        start_iteration: int = 0,
        num_iteration: int | None = None,
        num_threads: int = 1,
    ) -> np.ndarray:
        """Raw scores of iterations [start_iteration, start_iteration + num_iteration) (all the
        remaining ones when num_iteration is None or <= 0), as LightGBM's `predict` gives them."""
        total = self.current_iteration()
        end = total
        if num_iteration is not None and num_iteration > 0:
            end = min(total, start_iteration + num_iteration)
        compiled = self.spans.get((start_iteration, end))
        if compiled is None or len(x) == 0:
            return np.asarray(
                self.booster.predict(
                    x,
                    start_iteration=start_iteration,
                    num_iteration=num_iteration,
                    num_threads=num_threads,
                )
            )
        return np.asarray(compiled.predict(x, n_jobs=max(1, num_threads)))

    def compile(self) -> None:
        """Compile and check every wanted span in turn (the first check that fails stops it, and
        so does `cancel`, between two spans)."""
        try:
            probe = probe_rows(self.booster)
            for start, end in self.wanted:
                if self._cancelled.is_set():
                    return
                compiled = compile_span(self.booster, start, end)
                expected = self.booster.predict(
                    probe, start_iteration=start, num_iteration=end - start
                )
                worst = float(np.max(np.abs(compiled.predict(probe, n_jobs=1) - expected)))
                if not worst <= TOLERANCE:
                    log.warning(
                        "compiled ranker trees %d..%d differ from LightGBM by %g: not used",
                        start,
                        end,
                        worst,
                    )
                    return
                self.spans[(start, end)] = compiled
        except Exception as exc:  # the compiler failed: LightGBM keeps answering
            log.warning("could not compile the ranker (%s): LightGBM answers", exc)
        finally:
            self.done.set()

    def cancel(self) -> None:
        """Compile no further span (one being compiled is finished): the trees are no longer
        asked for in these spans (e.g. a served hybrid's cascade was changed)."""
        self._cancelled.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until compiling is over (True) or `timeout` seconds passed (False)."""
        return self.done.wait(timeout)


#: Whether this process compiles the rankers it loads (`compile_on_load`); the environment wins.
_compile_on_load = False
_OFF = frozenset({"0", "false", "no", "off"})


def compile_on_load(on: bool = True) -> None:
    """Compile (`on`) or not the rankers this process loads from now on: a server turns it on
    before loading its models; `SPOTIFIER_NATIVE_RANKER` overrides it either way."""
    global _compile_on_load
    _compile_on_load = on


def enabled() -> bool:
    """lleaves installed, and compiling asked for: by SPOTIFIER_NATIVE_RANKER (0/false/no/off:
    never; any other value: always) or, when it is unset or empty, by `compile_on_load`."""
    setting = os.environ.get("SPOTIFIER_NATIVE_RANKER", "").strip().lower()
    if setting in _OFF or not (setting or _compile_on_load):
        return False
    try:
        import lleaves  # noqa: F401
    except ImportError:
        return False
    return True


def native_ranker(booster: Any, cuts: Sequence[int] = (), background: bool = True) -> Any:
    """`booster` wrapped in a `NativeRanker` compiling spans [0, c1), [c1, c2), ..., [ck, end),
    in that order, in a daemon thread (or now, with `background=False`); the booster itself when
    compiling is not `enabled` (no thread is started then). The whole forest [0, end) is not
    compiled when there are cuts: the hybrid always asks for its cascade's spans (a query with
    few candidates gets both), and compiling it again would double the compiler's CPU."""
    if booster is None or not enabled():
        return booster
    total = int(booster.current_iteration())
    bounds = sorted({0, total, *(c for c in cuts if 0 < c < total)})
    ranker = NativeRanker(booster, list(itertools.pairwise(bounds)))
    if background:
        threading.Thread(target=ranker.compile, name="spotifier-ranker", daemon=True).start()
    else:
        ranker.compile()
    return ranker


def compile_span(booster: Any, start: int, end: int) -> Any:
    """Trees [start, end) compiled inlined, in cache blocks of `BLOCK_TREES` trees: each block
    summed in order from 0, as LightGBM sums them, the blocks' sums added in order."""
    import lleaves

    text = booster.model_to_string(start_iteration=start, num_iteration=end - start)
    with tempfile.TemporaryDirectory(prefix="spotifier-ranker-") as tmp:
        path = Path(tmp) / "ranker.txt"
        path.write_text(text)
        model = lleaves.Model(model_file=str(path))
        model.compile(raw_score=True, fblocksize=max(1, BLOCK_TREES), finline=True)
    return model


def probe_rows(booster: Any, n: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
    """Feature rows that reach every side of the model's splits: each value a split threshold of
    that feature, nudged just below or above it, or NaN (a tenth of them)."""
    rng = np.random.default_rng(seed)
    n_features = int(booster.num_feature())
    thresholds: list[list[float]] = [[] for _ in range(n_features)]
    for tree in booster.dump_model()["tree_info"]:
        todo = [tree["tree_structure"]]
        while todo:
            node = todo.pop()
            if "split_feature" in node:
                if isinstance(node["threshold"], int | float):  # not a categorical split
                    thresholds[node["split_feature"]].append(float(node["threshold"]))
                todo += [node["left_child"], node["right_child"]]
    x = np.full((n, n_features), np.nan, dtype=np.float32)
    for f, values in enumerate(thresholds):
        # (LightGBM writes some thresholds as +-1e300: kept within float32's range)
        pool = np.clip(np.asarray(values or [0.0], dtype=np.float64), -1e30, 1e30)
        base = rng.choice(pool, n)
        nudge = rng.choice([-1.0, 1.0], n) * np.maximum(np.abs(base), 1.0) * 1e-4
        x[:, f] = base + nudge
        x[rng.random(n) < 0.1, f] = np.nan
    return x
