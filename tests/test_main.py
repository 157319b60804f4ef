"""The entry point: gin flag rewriting, gin typos named, run-mode dispatch."""

import os
import subprocess
import sys

import gin
import pytest

from genrec import main
from genrec.model.parallel_ids import ParallelIdConfig


def test_rewrite_gin_args_turns_dotted_flags_into_bindings():
    argv = ["genrec", "--gin.LoopConfig.num_steps=10", "--run_mode=train", "--gin.X='a=b'"]
    assert main.rewrite_gin_args(argv) == [
        "genrec",
        "--gin_bindings=LoopConfig.num_steps = 10",
        "--run_mode=train",
        "--gin_bindings=X = 'a=b'",
    ]


def test_recommend_subcommand_is_infer_mode():
    assert main.rewrite_gin_args(["genrec", "recommend", "--bundle=b"]) == [
        "genrec",
        "--run_mode=infer",
        "--bundle=b",
    ]
    assert main.rewrite_gin_args(["genrec", "--gin_file=x.gin", "recommend", "--top_k=3"]) == [
        "genrec",
        "--run_mode=infer",
        "--gin_file=x.gin",
        "--top_k=3",
    ]


@gin.configurable
def _knob(value=1):
    return value


def test_gin_typo_is_an_error_that_names_it(tmp_path):
    with pytest.raises(main.GinConfigError, match="_kn0b"):
        main.parse_gin([], ["_kn0b.value = 3"])
    with pytest.raises(main.GinConfigError, match="valeu"):
        main.parse_gin([], ["_knob.valeu = 3"])
    bad = tmp_path / "bad.gin"
    bad.write_text("_knob.value = 2\n_knb.value = 3\n")
    with pytest.raises(main.GinConfigError, match="bad.gin"):
        main.parse_gin([str(bad)], [])
    with pytest.raises(main.GinConfigError, match="not found"):
        main.parse_gin([str(tmp_path / "missing.gin")], [])
    includes_missing = tmp_path / "includes_missing.gin"
    includes_missing.write_text("include 'configs/no_such_file.gin'\n")
    with pytest.raises(main.GinConfigError, match="includes_missing.gin"):
        main.parse_gin([str(includes_missing)], [])
    main.parse_gin([], ["_knob.value = 3"])
    assert _knob() == 3


def test_a_block_setting_bound_on_parallel_id_config_is_an_error_that_names_it():
    """The parallel-digit model's block settings are BlockConfig's (ParallelIdConfig.block): the old
    binding, e.g. in an experiment file written before, is gin's error naming it."""
    with pytest.raises(
        main.GinConfigError, match="'ParallelIdConfig' doesn't have a parameter named 'd_model'"
    ):
        main.parse_gin([], ["ParallelIdConfig.d_model = 64"])
    gin.clear_config()
    main.parse_gin([], ["BlockConfig.d_model = 64", "ParallelIdConfig.num_layers = 3"])
    config = ParallelIdConfig()
    assert (config.block.d_model, config.block.num_heads, config.num_layers) == (64, 4, 3)


def test_experiment_files_parse_from_outside_the_checkout(tmp_path, monkeypatch):
    """Experiment files include 'configs/...' relative to the checkout; any directory may run them."""
    main.import_stages()
    monkeypatch.chdir(tmp_path)
    main.parse_gin([os.path.join(main.REPO_ROOT, "configs", "experiments", "parallel_ids_beauty.gin")], [])
    assert ParallelIdConfig().catalogue_loss_weight == 30.0  # the recipe's, the code's one default
    gin.clear_config()
    # the history-excluded protocol is one more file after any parallel-digit experiment
    for name in ("parallel_ids_beauty", "parallel_ids_musical_instruments", "parallel_ids_ml100k"):
        main.parse_gin(
            [
                os.path.join(main.REPO_ROOT, "configs", "experiments", f"{name}.gin"),
                os.path.join(main.REPO_ROOT, "configs", "runs", "history_excluded.gin"),
            ],
            [],
        )
        assert gin.query_parameter("ParallelIdConfig.catalogue_exclude_history") is True, name
        assert gin.query_parameter("EvalConfig.drop_history") is True, name
        gin.clear_config()


def test_a_catalogue_update_starts_without_tensorflow_yet_checks_its_config_strictly():
    """add-items / remove-items import their own module only (no TensorFlow: seconds of start-up); a
    binding from another stage still parses (every stage is imported then), and a typo is an error."""
    script = """
import sys
from genrec import main
main.load_config("add_items", [], ["add_items_run.items_file = 'new.tsv'", "add_items_run.keep_versions = 2"])
assert "tensorflow" not in sys.modules and "seqio" not in sys.modules, "a light run imported TensorFlow"
main.load_config("remove_items", [], ["remove_items_run.items_file = 'gone.txt'", "LoopConfig.num_steps = 3"])
import gin
assert gin.query_parameter("LoopConfig.num_steps") == 3 and "seqio" in sys.modules
gin.clear_config()
try:
    main.load_config("add_items", [], ["add_items_run.itemz_file = 'new.tsv'"])
except main.GinConfigError as e:
    assert "itemz_file" in str(e), e
else:
    raise AssertionError("a typo in a light run's config parsed")
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


def test_every_run_mode_names_an_existing_function():
    for mode in main.RUN_MODES:
        module = main.RUN_MODES[mode].split(":")[0]
        try:
            fn = main.resolve(mode)
        except ModuleNotFoundError as e:  # stages land one by one; a missing stage module is explicit
            assert module == e.name or module.startswith(f"{e.name}.")
            continue
        assert callable(fn)


def test_the_log_filter_keeps_ours_and_library_warnings_but_drops_chatter_and_answered_warnings():
    import logging
    import os

    def record(path, level, msg):
        return logging.LogRecord("absl", level, path, 1, msg, None, None)

    ours = os.path.join(os.sep, "repo", "genrec", "train", "trainer.py")
    lib = os.path.join(os.sep, "site-packages", "seqio", "dataset_providers.py")
    assert main._ours_or_important(record(ours, logging.INFO, "step 10 | loss 1.0"))
    assert not main._ours_or_important(record(lib, logging.INFO, "shard 3 written"))
    assert main._ours_or_important(record(lib, logging.WARNING, "feature 'x' is truncated"))
    for answered in main.ANSWERED_WARNINGS:
        assert not main._ours_or_important(record(lib, logging.WARNING, answered + " ... (details)"))


def test_every_experiment_file_parses_and_names_a_known_dataset():
    """The shipped experiments resolve every binding (a typo fails) from the repository root, as the
    README runs them, and name a dataset genrec can load: a registered name, a log by path, or none
    (a recipe for any log, given by path on the command line)."""
    from genrec.datasets.loading import DATASETS

    main.import_stages()
    repo = main.REPO_ROOT
    folder = os.path.join(repo, "configs", "experiments")
    names = [n for n in sorted(os.listdir(folder)) if n.endswith(".gin") and not n.startswith("sweep_")]
    assert {"tiger_beauty.gin", "tiger_musical_instruments.gin", "tiger_ml100k.gin"} <= set(names)
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        for name in names:
            gin.clear_config()
            main.parse_gin([os.path.join("configs", "experiments", name)], [])
            dataset = gin.query_parameter("load_dataset.name")
            try:
                path = gin.query_parameter("load_dataset.path")
            except ValueError:
                path = None
            if path is not None:
                assert gin.query_parameter("load_dataset.format") and os.path.exists(path), name
            else:
                assert dataset in DATASETS or dataset is None, name
    finally:
        os.chdir(cwd)
