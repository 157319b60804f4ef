import os
import sys

import pytest

# The tiny end-to-end setup is shared with the evaluator tests.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "evaluate"))


@pytest.fixture(scope="session")
def export_setup(tmp_path_factory):
    import eval_helpers

    setup = eval_helpers.build_setup(str(tmp_path_factory.mktemp("exportsetup")))
    ckpt = eval_helpers.save_checkpoint(setup, os.path.join(setup["root"], "checkpoints"))
    from genrec.export.run import export_checkpoint

    bundle = export_checkpoint(ckpt, os.path.join(setup["root"], "bundle"), dataset=setup["dataset"])
    return dict(setup, checkpoint_dir=ckpt, bundle=bundle)
