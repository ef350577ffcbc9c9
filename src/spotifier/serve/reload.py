"""Hot reload: serve a retrained model without a restart, and pick up a changed API key file.

A `Watcher` thread polls, every `interval` seconds (and at once on `wake()`, which the server
calls on SIGHUP), the `meta.json` of every served model and of the title model its chain falls
back to. `meta.json` is the last file a save writes, inside a folder renamed into place
(`home.atomic_dir`), so a changed `meta.json` means a complete new version. The new version is
loaded beside the old one (memory for both, for a moment), then swapped in by `Service.swap`:
requests already prepared finish on the old version, later ones get the new one, and none fails.
`model_version` in the answers shows the change.

What the server derived from the model and the store at start-up is refreshed with it, built
beside the old and swapped in the same step (`Service.refreshed_tracks`): the search order (the
default model's popularity counts: hits come most popular first in the data the served model was
trained on), and the catalogue itself when the new model knows tracks ingested since start-up
(the store is read again; track indices are stable, so the new catalogue extends the old one).

A version that fails to load (damaged files, a model that knows more tracks than even the store
read again) is logged and counted, and the old one keeps serving with the old catalogue and search
order; it is not retried until its `meta.json` changes again or a SIGHUP asks. A folder caught
mid-replacement (no `meta.json` for a moment, or a `meta.json` that changed while loading) is
simply looked at again on the next round.

Loading only ever reads saved files: nothing is trained here.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from spotifier import store
from spotifier.home import Home
from spotifier.models import persist
from spotifier.models.base import Recommender
from spotifier.models.chain import FallbackChain, chain_models
from spotifier.serve.access import ApiKeys
from spotifier.serve.catalog import ServedCatalog
from spotifier.serve.service import ServedModel, Service

log = logging.getLogger("spotifier.serve")
#: Seconds between two looks at the saved models and the key file.
DEFAULT_INTERVAL = 2.0
#: The meta.json bytes of a served model and of its title model (None: no title model).
Stamp = tuple[bytes, bytes | None]


def load_served(
    home: Home,
    name: str,
    split: str | None,
    title: Recommender | None = None,
    settings: Sequence[str] = (),
) -> ServedModel:
    """The saved model `name` in its fallback chain, read from disk (never trained), answering
    with the query-time `settings` (`KEY=VALUE`, as `serve --set` gave them).

    `title`: the title model to reuse (when only the primary changed); else it is read too.
    """
    started = time.perf_counter()
    meta = persist.read_meta(home, name, split)
    parts = chain_models(name)
    primary = persist.load(home, name, split).with_query_settings(settings)
    if len(parts) > 1 and title is None:
        title = persist.load(home, parts[1], split)
    chain = FallbackChain(primary, title if len(parts) > 1 else None)
    return ServedModel(
        name, chain, meta, load_seconds=time.perf_counter() - started, settings=tuple(settings)
    )


class Watcher:
    """Polls the served models' `meta.json` (and the API key file) and reloads what changed."""

    def __init__(
        self,
        service: Service,
        keys: ApiKeys | None = None,
        interval: float = DEFAULT_INTERVAL,
        on_swap: Callable[[ServedModel], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.service = service
        self.keys = keys
        self.interval = interval
        self.on_swap = on_swap
        self.on_failure = on_failure
        self._current: dict[str, Stamp | None] = {}
        self._failed: dict[str, Stamp] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one check at a time (the thread, or a direct call)
        self._thread: threading.Thread | None = None
        if service.source is not None:
            for name, served in service.models.items():
                stamp = self._stamp(name)
                # The files may have changed between loading and now: then reload at once.
                same = stamp is not None and _parse(stamp[0]) == served.meta
                self._current[name] = stamp if same else None

    # ------------------------------------------------------------------ the thread
    def start(self) -> Watcher:
        """Watch in a daemon thread (with `interval` 0, it only looks when woken)."""
        if self._thread is None and (self.service.source is not None or self.keys is not None):
            self._thread = threading.Thread(target=self._run, name="spotifier-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wake(self) -> None:
        """Look now, retrying versions that failed before (what SIGHUP does).

        Only sets an event: safe to call from a signal handler.
        """
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self.interval if self.interval > 0 else None)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check(retry_failed=woken)
            except Exception:  # the watcher must outlive any surprise; the old models serve on
                log.exception("hot reload: checking the saved models failed")

    # ------------------------------------------------------------------ one look
    def check(self, retry_failed: bool = False) -> list[str]:
        """Reload the key file and every served model whose files changed; the models swapped."""
        with self._lock:
            if self.keys is not None:
                self.keys.refresh()
            if self.service.source is None:
                return []
            return [name for name in list(self.service.models) if self._check(name, retry_failed)]

    def _check(self, name: str, retry_failed: bool) -> bool:
        stamp = self._stamp(name)
        if stamp is None or stamp == self._current.get(name):
            return False  # unchanged, or caught mid-replacement: look again next round
        if stamp == self._failed.get(name) and not retry_failed:
            return False
        assert self.service.source is not None
        home, split = self.service.source
        old = self.service.model(name)
        current = self._current.get(name)
        same_title = current is not None and current[1] == stamp[1]
        before = self.service.tracks
        try:
            new = load_served(
                home,
                name,
                split,
                old.chain.title if same_title else None,
                old.settings,
            )
            tracks = self.service.refreshed_tracks(new, lambda: store.load_catalog(home))
            if self._stamp(name) != stamp:
                return False  # replaced while loading: load the newest next round
            self.service.swap(new, tracks)
        except Exception as exc:  # any damage in the new files: the old version keeps serving
            self._failed[name] = stamp
            log.error(
                "model '%s': the new version failed to load; still serving %s (%s: %s)",
                name,
                old.version,
                type(exc).__name__,
                exc,
            )
            if self.on_failure is not None:
                self.on_failure(name)
            return False
        self._current[name] = stamp
        self._failed.pop(name, None)
        log.info(
            "model '%s' reloaded: %s -> %s (%.2f s)%s",
            name,
            old.version,
            new.version,
            new.load_seconds or 0.0,
            _tracks_change(before, tracks),
        )
        if self.on_swap is not None:
            self.on_swap(new)
        return True

    def _stamp(self, name: str) -> Stamp | None:
        """The bytes of the model's (and its title model's) meta.json; None while missing."""
        assert self.service.source is not None
        home, split = self.service.source
        try:
            primary = (home.model_dir(name, split) / "meta.json").read_bytes()
        except OSError:
            return None
        parts = chain_models(name)
        title = _read(home.model_dir(parts[1], split) / "meta.json") if len(parts) > 1 else None
        return primary, title


def _tracks_change(before: ServedCatalog, after: ServedCatalog) -> str:
    """What a swap changed in the catalogue views, for the reload log line."""
    if after.catalog is not before.catalog:
        return f"; catalogue re-read: {after.catalog.n_tracks} tracks; search order refreshed"
    return "; search order refreshed" if after is not before else ""


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _parse(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None
