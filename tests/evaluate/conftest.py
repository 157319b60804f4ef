import pytest


@pytest.fixture(scope="session")
def eval_setup(tmp_path_factory):
    import eval_helpers

    return eval_helpers.build_setup(str(tmp_path_factory.mktemp("evalsetup")))
