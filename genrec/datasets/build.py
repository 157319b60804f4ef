"""`tfds build`, the same command and flags, without the CLI's other subcommands.

The tfds 4.9.10 CLI (`tfds build ...`) imports apache_beam and mlcroissant at start-up for its
`convert_format` / `build_croissant` subcommands, so without those installed it fails before
building anything. This runs TFDS's own build command (the same code and flags) directly:

  python -m genrec.datasets.build data/amazon --config=beauty_2014 \
      --manual_dir=../shared/data/amazon-2014-beauty --data_dir=~/tensorflow_datasets

`tfds build` takes the same arguments; with apache-beam and mlcroissant installed it should run
as well (not verified here: neither is installed).
"""

from absl import app, logging
from tensorflow_datasets.scripts.cli import build, cli_utils


def main(args: build.Args) -> None:
    logging.set_verbosity(logging.INFO)
    args.execute()


if __name__ == "__main__":
    app.run(main, flags_parser=cli_utils.make_flags_parser(build.Args, description=__doc__))
