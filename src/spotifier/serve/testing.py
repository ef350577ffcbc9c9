"""Helpers for tests and benchmarks: a real uvicorn server in a background thread.

with ServerThread(create_app(service)) as server:
    httpx.get(server.url + "/healthz")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from spotifier.data import Catalog, Interactions, TrainingData
from spotifier.home import Home


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a daemon thread; stop it on exit."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None) -> None:
        import uvicorn

        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="spotifier-serve", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the test server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# ---------------------------------------------------------------------- worlds to serve
def build_home(
    root: Path, playlists: int = 400, seed: int = 0, models: Sequence[str] = ("item-knn",)
) -> Home:
    """A home folder built by the real pipeline: generate a world, ingest it, train `models`."""
    from spotifier import store, synth
    from spotifier.models import persist

    home = Home(Path(root) / "home").ensure()
    out = Path(root) / "world"
    synth.generate(out, playlists, seed)
    store.ingest(home, out / "data")
    for name in models:
        persist.train(home, name)
    if "title" not in models:
        persist.train(home, "title")
    return home


def pipeline_available() -> bool:
    """Whether the generator and the store exist in this build (they are written in parallel)."""
    from spotifier import store, synth

    return hasattr(synth, "generate") and hasattr(store, "ingest")


def handmade_world(n_playlists: int = 300, seed: int = 0) -> tuple[TrainingData, Catalog]:
    """Six genres of 30 tracks by 3 artists each; playlists titled by genre draw from one genre."""
    rng = np.random.default_rng(seed)
    genres = ["rock", "jazz", "disco", "metal", "folk", "house"]
    per_genre, n_tracks = 30, 30 * len(genres)
    words = ["Blue", "Night", "Fire", "River", "Gold", "Moon", "Rain", "Heart", "Road", "Sky"]
    names = [f"{words[i % 10]} {words[(i // 10) % 10]} {i}" for i in range(n_tracks)]
    artist = np.arange(n_tracks, dtype=np.int32) // 10
    artist_names = [f"{g.title()} Band {j}" for g in genres for j in range(3)]
    playlists, titles = [], []
    for i in range(n_playlists):
        g = i % len(genres)
        pool = np.arange(g * per_genre, (g + 1) * per_genre)
        weights = 1.0 / np.arange(1, per_genre + 1)
        size = int(rng.integers(5, 15))
        tracks = rng.choice(pool, size=size, replace=False, p=weights / weights.sum())
        playlists.append(tracks.tolist())
        titles.append(genres[g] if i % 3 else f"{genres[g]} mix")
    inter = Interactions.from_lists(playlists, n_tracks=n_tracks, titles=titles)
    album = np.arange(n_tracks, dtype=np.int32) // 5
    catalog = Catalog(
        track_uris=np.array([f"spotify:track:{i:022d}" for i in range(n_tracks)], dtype=object),
        track_names=np.array(names, dtype=object),
        track_artist=artist,
        track_album=album,
        artist_uris=np.array([f"spotify:artist:{i:022d}" for i in range(18)], dtype=object),
        artist_names=np.array(artist_names, dtype=object),
        album_uris=np.array(
            [f"spotify:album:{i:022d}" for i in range(n_tracks // 5)], dtype=object
        ),
        album_names=np.array([f"Album {i}" for i in range(n_tracks // 5)], dtype=object),
    )
    return TrainingData.from_catalog(inter, catalog), catalog


def world_service(root: Path, models: Sequence[str] = ("item-knn",), playlists: int = 400) -> Any:
    """A `Service` over a small world: the real pipeline when present, else a hand-made world."""
    from spotifier.models import persist
    from spotifier.serve.service import ServedModel, Service

    if pipeline_available():
        return Service.from_home(build_home(root, playlists, models=models), models)
    data, catalog = handmade_world()
    home = Home(Path(root) / "home").ensure()
    for name in [*models, "title"]:
        persist.train(home, name, data=data)
    served = [
        ServedModel(name, persist.load_chain(home, name, data=data), persist.read_meta(home, name))
        for name in models
    ]
    return Service(catalog, served)
