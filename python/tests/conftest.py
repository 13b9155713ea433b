"""Shared fixtures: the repository's test files and the `maskspec` binary the numbers are
compared with (built by cargo if it is not there yet)."""

import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(scope="session")
def cli():
    """Runs the CLI: ``cli("analyze", ...)`` returns its stdout; MASKSPEC_CLI overrides the binary."""
    binary = os.environ.get("MASKSPEC_CLI")
    if binary is None:
        # The binary as `cargo test` builds it: after `cargo test` (as in CI) nothing is rebuilt,
        # where `cargo build` would rebuild the dependencies without the dev-dependencies' features.
        subprocess.run(["cargo", "test", "--quiet", "--no-run", "--test", "cli"], cwd=REPO, check=True)
        binary = str(REPO / "target" / "debug" / "maskspec")

    def run(*args):
        done = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


@pytest.fixture
def fixtures():
    return FIXTURES
