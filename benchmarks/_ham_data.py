"""Where the benchmarks find HAM10000: ``--data PATH``, else the NAS_HAM10000 variable, else ../shared/data/ham10000
beside the repository."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ham10000"


def add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="PATH", default=os.environ.get("NAS_HAM10000") or str(DEFAULT),
                        help="the HAM10000 folder (HAM10000_metadata.csv, HAM10000_images_part_1/ and _part_2/); "
                             "default: $NAS_HAM10000, else ../shared/data/ham10000 beside the repository "
                             "(here %(default)s)")


def data_folder(args: argparse.Namespace) -> Path:
    """The folder given by --data; exits with one line when it holds no HAM10000_metadata.csv."""
    folder = Path(args.data).expanduser()
    if not (folder / "HAM10000_metadata.csv").is_file():
        what = "no such folder" if not folder.is_dir() else "no HAM10000_metadata.csv in it"
        sys.exit(f"{Path(sys.argv[0]).name}: --data {folder}: {what}; pass --data PATH or set NAS_HAM10000 to the "
                 f"HAM10000 folder")
    return folder
