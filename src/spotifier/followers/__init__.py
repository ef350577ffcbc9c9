"""The follower-count regression study (`spotifier followers`)."""

from spotifier.followers.features import FollowersTable, load_table, normalize_title
from spotifier.followers.study import load_result, results_path, run_study, save

__all__ = [
    "FollowersTable",
    "load_result",
    "load_table",
    "normalize_title",
    "results_path",
    "run_study",
    "save",
]
