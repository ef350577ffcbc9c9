"""A realistic synthetic MPD: `generate` writes slices and the latent truth; `Oracle` ranks by it.

spotifier generate OUT --playlists 20000 --seed 0     # the default world
"""

from spotifier.synth.generate import DEFAULT_PLAYLISTS, DEFAULT_SEED, GenerateReport, generate
from spotifier.synth.oracle import Oracle

__all__ = ["DEFAULT_PLAYLISTS", "DEFAULT_SEED", "GenerateReport", "Oracle", "generate"]
