"""Shared test setup: 8 simulated CPU devices (set before JAX starts), a fresh gin config around every
test, and the real-data path. Tiny model configs: tests/helpers.py."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("GENREC_COMPILATION_CACHE", "")  # `genrec recommend` in tests: no cache in ~/.cache

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "data", "fixtures")


def _raw_data_dir():
    path = os.environ.get("GENREC_RAW_DATA_DIR", os.path.join(REPO, "..", "shared", "data"))
    return os.path.abspath(path) if os.path.isdir(path) else None


@pytest.fixture(autouse=True)
def _fresh_gin():
    """Every test starts and ends with no gin bindings: none leak from one test into the next."""
    import gin

    gin.clear_config()
    yield
    gin.clear_config()


@pytest.fixture(scope="session")
def raw_data_dir():
    """../shared/data (or $GENREC_RAW_DATA_DIR). Tests that need it are skipped only where it is absent."""
    path = _raw_data_dir()
    if path is None:
        pytest.skip("real datasets not present (set GENREC_RAW_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def fixtures_dir():
    return FIXTURES


@pytest.fixture(scope="session")
def synthetic_small():
    """A 200-item synthetic dataset, shared by tests that only read it."""
    from genrec.datasets import synthetic

    return synthetic.generate(num_items=200, num_users=300, seed=0)
