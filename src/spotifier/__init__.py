"""Spotifier: automatic playlist continuation in the Million Playlist Dataset format."""

from spotifier.data import Catalog, Interactions, Query, TrainingData
from spotifier.errors import SpotifierError
from spotifier.home import Home

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "Home",
    "Interactions",
    "Query",
    "SpotifierError",
    "TrainingData",
    "__version__",
]
