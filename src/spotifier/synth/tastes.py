"""The generator's latent world: genre × mood "cells" that tracks live in, and tastes mixing them.

Every track belongs to one cell (its artist's genre, its own mood). A taste is a fixed mixture over
cells plus the titles people give playlists of that taste; a playlist mixes one to three tastes. The
taste weights below are set so that normalized-title frequencies resemble MPD.md's top titles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MOODS: tuple[str, ...] = ("energetic", "mellow", "party")

#: name, share of artists, mood probabilities (energetic, mellow, party), share of back catalog
GENRES: tuple[tuple[str, float, tuple[float, float, float], float], ...] = (
    ("pop", 0.13, (0.35, 0.30, 0.35), 0.30),
    ("rap", 0.12, (0.40, 0.15, 0.45), 0.25),
    ("country", 0.08, (0.35, 0.40, 0.25), 0.35),
    ("rock", 0.09, (0.55, 0.25, 0.20), 0.55),
    ("indie", 0.09, (0.25, 0.60, 0.15), 0.35),
    ("edm", 0.07, (0.45, 0.15, 0.40), 0.25),
    ("rnb", 0.06, (0.15, 0.55, 0.30), 0.35),
    ("latin", 0.04, (0.30, 0.20, 0.50), 0.30),
    ("worship", 0.03, (0.30, 0.60, 0.10), 0.45),
    ("christmas", 0.015, (0.20, 0.50, 0.30), 0.85),
    ("soundtrack", 0.025, (0.30, 0.50, 0.20), 0.60),
    ("ambient", 0.04, (0.05, 0.90, 0.05), 0.50),
    ("oldies", 0.04, (0.35, 0.35, 0.30), 1.00),
    ("throwback", 0.035, (0.35, 0.25, 0.40), 1.00),
    ("metal", 0.04, (0.85, 0.10, 0.05), 0.50),
    ("jazz", 0.03, (0.15, 0.75, 0.10), 0.75),
    ("alternative", 0.04, (0.45, 0.40, 0.15), 0.50),
    ("punk", 0.03, (0.70, 0.20, 0.10), 0.50),
    ("folk", 0.03, (0.15, 0.75, 0.10), 0.45),
    ("reggae", 0.02, (0.20, 0.40, 0.40), 0.50),
)
GENRE_NAMES = tuple(g[0] for g in GENRES)
N_GENRES, N_MOODS = len(GENRES), len(MOODS)
N_CELLS = N_GENRES * N_MOODS


def cell_of(genre: int, mood: int) -> int:
    return genre * N_MOODS + mood


@dataclass(frozen=True)
class Taste:
    name: str
    prevalence: float  # relative weight as a playlist's dominant taste
    genres: dict[str, float]  # genre name -> weight
    moods: tuple[float, float, float] | None  # mood filter; None keeps each genre's own moods
    titles: tuple[tuple[str, float], ...]  # title -> relative weight


_E, _M, _P = (0.8, 0.1, 0.1), (0.15, 0.75, 0.1), (0.15, 0.1, 0.75)

TASTES: tuple[Taste, ...] = (
    Taste("country", 5.5, {"country": 1.0}, None,
          (("country", 10), ("country music", 1.5), ("new country", 0.8), ("country hits", 0.6),
           ("country jams", 0.4), ("country vibes", 0.3), ("summer", 0.8), ("road trip", 0.6))),
    Taste("chill", 4.5, {"indie": 0.35, "rnb": 0.25, "pop": 0.2, "edm": 0.1, "folk": 0.1}, _M,
          (("chill", 10), ("chill vibes", 1.5), ("vibes", 2.5), ("chillin", 1.0), ("relax", 0.8),
           ("feels", 1.5), ("mellow", 0.5))),
    Taste("rap", 6.0, {"rap": 1.0}, None,
          (("rap", 8.5), ("hip hop", 2.0), ("lit", 2.5), ("rap music", 0.6), ("bangers", 0.8),
           ("trap", 0.8), ("jams", 1.5))),
    Taste("workout", 3.8, {"rap": 0.35, "edm": 0.3, "pop": 0.2, "rock": 0.15}, _E,
          (("workout", 8.5), ("gym", 2.0), ("running", 1.2), ("pump up", 0.8), ("lift", 0.5),
           ("cardio", 0.4))),
    Taste("oldies", 3.0, {"oldies": 1.0}, None,
          (("oldies", 8.1), ("classics", 1.6), ("motown", 0.6), ("70s", 0.8), ("80s", 1.0),
           ("oldies but goodies", 0.4))),
    Taste("christmas", 2.6, {"christmas": 1.0}, None,
          (("christmas", 8.0), ("christmas music", 1.5), ("xmas", 0.8), ("holiday", 0.6))),
    Taste("rock", 4.0, {"rock": 0.8, "alternative": 0.2}, None,
          (("rock", 6.8), ("classic rock", 2.0), ("rock music", 0.6), ("road trip", 0.5))),
    Taste("party", 3.2, {"rap": 0.35, "pop": 0.3, "edm": 0.2, "latin": 0.15}, _P,
          (("party", 6.2), ("lit", 1.5), ("turn up", 0.8), ("pregame", 0.6), ("jams", 1.0),
           ("bangers", 0.5))),
    Taste("throwback", 3.2, {"throwback": 0.8, "pop": 0.1, "rap": 0.1}, None,
          (("throwback", 5.9), ("throwbacks", 4.0), ("2000s", 0.9), ("childhood", 0.5),
           ("tbt", 0.4))),
    Taste("worship", 2.2, {"worship": 1.0}, None,
          (("worship", 5.0), ("christian", 1.0), ("praise", 0.6), ("gospel", 0.5))),
    Taste("pop", 7.0, {"pop": 0.8, "rnb": 0.1, "edm": 0.1}, None,
          (("jams", 2.5), ("music", 3.9), ("new", 4.6), ("pop", 2.5), ("summer", 2.0),
           ("vibes", 1.0), ("feels", 1.2), ("good vibes", 0.8), ("hits", 0.7), ("favorites", 0.8))),
    Taste("summer", 2.0, {"pop": 0.3, "country": 0.2, "latin": 0.2, "edm": 0.15, "reggae": 0.15},
          None, (("summer", 4.0), ("summer 2017", 0.6), ("beach", 0.8), ("summer vibes", 0.6))),
    Taste("disney", 1.8, {"soundtrack": 1.0}, None,
          (("disney", 4.2), ("musicals", 0.8), ("broadway", 0.6), ("movie songs", 0.3))),
    Taste("sleep", 2.2, {"ambient": 0.7, "jazz": 0.15, "indie": 0.15}, _M,
          (("sleep", 3.5), ("study", 1.5), ("piano", 0.5), ("focus", 0.5), ("relax", 0.5))),
    Taste("edm", 2.0, {"edm": 1.0}, None,
          (("edm", 2.4), ("house", 0.8), ("dance", 1.0), ("electronic", 0.5))),
    Taste("rnb", 2.0, {"rnb": 1.0}, None,
          (("r&b", 2.0), ("rnb", 1.0), ("slow jams", 0.8), ("feels", 1.2), ("love songs", 0.6))),
    Taste("indie", 2.2, {"indie": 0.8, "folk": 0.2}, None,
          (("indie", 2.5), ("indie rock", 0.6), ("coffee shop", 0.4), ("acoustic", 0.6))),
    Taste("latin", 1.4, {"latin": 1.0}, None,
          (("latin", 1.5), ("reggaeton", 1.2), ("spanish", 1.0), ("latino", 0.4))),
    Taste("metal", 1.2, {"metal": 0.8, "punk": 0.2}, None,
          (("metal", 2.0), ("metalcore", 0.5), ("hardcore", 0.4))),
    Taste("jazz", 0.9, {"jazz": 1.0}, None, (("jazz", 1.5), ("blues", 0.6), ("soul", 0.6))),
    Taste("alternative", 1.6, {"alternative": 0.7, "indie": 0.3}, None,
          (("alternative", 2.0), ("alt", 0.6), ("grunge", 0.3))),
    Taste("punk", 1.1, {"punk": 0.7, "alternative": 0.3}, None,
          (("punk", 1.0), ("emo", 1.6), ("pop punk", 1.0))),
    Taste("folk", 0.9, {"folk": 0.8, "country": 0.2}, None,
          (("folk", 1.2), ("acoustic", 0.8), ("mellow", 0.3))),
    Taste("reggae", 0.6, {"reggae": 1.0}, None, (("reggae", 1.0), ("island", 0.4))),
    Taste("sad", 1.6, {"indie": 0.3, "pop": 0.3, "alternative": 0.2, "rnb": 0.2}, _M,
          (("sad", 3.0), ("feels", 1.2), ("sad songs", 0.8), ("heartbreak", 0.3))),
)  # fmt: skip
N_TASTES = len(TASTES)


def taste_cell_matrix() -> np.ndarray:
    """(tastes × cells) row-stochastic: how each taste spreads over genre × mood cells."""
    genre_index = {name: i for i, name in enumerate(GENRE_NAMES)}
    matrix = np.zeros((N_TASTES, N_CELLS))
    for k, taste in enumerate(TASTES):
        for genre, weight in taste.genres.items():
            g = genre_index[genre]
            moods = taste.moods if taste.moods is not None else GENRES[g][2]
            for m, mood_weight in enumerate(moods):
                matrix[k, cell_of(g, m)] += weight * mood_weight
    return matrix / matrix.sum(axis=1, keepdims=True)


def taste_prevalence() -> np.ndarray:
    prevalence = np.array([t.prevalence for t in TASTES])
    return prevalence / prevalence.sum()
