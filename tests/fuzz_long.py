"""A long fuzzing run: the tests of tests/test_fuzz.py with many more examples.

    python -m tests.fuzz_long --examples 5000 [--seed N] [--databases sqlite,postgres] [-k EXPR]

Each fuzz test (and dialect) runs EXAMPLES examples, randomly unless --seed
is given; a failure prints its minimal example and a @reproduce_failure blob.
The suite's bounded run is the same tests with their default example counts.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest

TEST_FILE = Path(__file__).resolve().with_name("test_fuzz.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz_long", description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=5000, help="examples per fuzz test and dialect (default 5000)")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed, to repeat a run")
    parser.add_argument("--databases", default=None, help="dialects, e.g. sqlite or sqlite,postgres (default: both)")
    parser.add_argument(
        "-k", dest="keyword", default=None, help="only the fuzz tests matching this pytest -k expression"
    )
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error("--examples must be at least 1")

    # Read by tests/test_fuzz.py when it is imported, so set before pytest collects it.
    os.environ["STRONGROOM_FUZZ_EXAMPLES"] = str(args.examples)
    if args.databases:
        os.environ["STRONGROOM_TEST_DATABASES"] = args.databases
    pytest_args = [
        str(TEST_FILE),
        "-p",
        "no:cacheprovider",
        "-o",
        "timeout=0",  # the suite's per-test timeout is for bounded runs
        "--hypothesis-show-statistics",
        "-q",
    ]
    if args.seed is not None:
        os.environ["STRONGROOM_FUZZ_SEED"] = str(args.seed)
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    return int(pytest.main(pytest_args))


if __name__ == "__main__":
    sys.exit(main())
