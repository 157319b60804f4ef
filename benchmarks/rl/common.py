"""What the RL benchmark scripts share: the dataset flags and loading it."""

from __future__ import annotations

import argparse


def add_dataset_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--data_dir", required=True, help="TFDS data_dir of the prepared dataset")
    parser.add_argument("--raw_data_dir", default=None)


def load_dataset(args):
    import gin

    from genrec import datasets

    gin.bind_parameter("load_dataset.name", args.dataset)
    return datasets.load(data_dir=args.data_dir, raw_data_dir=args.raw_data_dir)
