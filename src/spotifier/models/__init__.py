"""Recommenders: the contract (`Recommender`), the registry, and persistence."""

from spotifier.models.base import ModelConfig, Recommendations, Recommender
from spotifier.models.chain import FallbackChain
from spotifier.models.registry import create, model_class, model_names

__all__ = [
    "FallbackChain",
    "ModelConfig",
    "Recommendations",
    "Recommender",
    "create",
    "model_class",
    "model_names",
]
