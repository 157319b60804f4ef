"""genrec: generative recommendation in JAX/Flax (ARCHITECTURE.md is the map)."""
import os

# The checkout's root: configs/ (gin includes), data/ (TFDS builders) and the default ../shared/data.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
