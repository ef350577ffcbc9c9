"""The HTML report (`spotifier report`): EDA, results, sweeps, the followers study, examples."""

from spotifier.report.page import SECTIONS, build

__all__ = ["SECTIONS", "build"]
