"""genrec: generative recommendation in JAX/Flax (ARCHITECTURE.md is the map)."""

import os

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# The checkout's root (sweeps run from it; the default raw data is its ../shared/data).
REPO_ROOT = os.path.dirname(PACKAGE_DIR)
# The folder holding configs/ (gin files, `include 'configs/...'`) and data/ (the TFDS builders): the
# installed package, where setup.py ships them as package data, else the checkout they come from.
RESOURCE_ROOT = PACKAGE_DIR if os.path.isdir(os.path.join(PACKAGE_DIR, "configs")) else REPO_ROOT


def resource_path(*parts: str) -> str:
    """A path under RESOURCE_ROOT, e.g. resource_path('configs', 'experiments', 'quickstart.gin')."""
    return os.path.join(RESOURCE_ROOT, *parts)
