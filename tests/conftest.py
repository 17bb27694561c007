"""Hypothesis runs from one seed per test run, printed in the header, so any failure it finds can be replayed:
``pytest --hypothesis-seed=N`` (or ``HYPOTHESIS_SEED=N``). Without either a fresh seed is drawn, so runs keep
exploring."""

from __future__ import annotations

import os
import secrets

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before Hypothesis' own plugin reads the option (tryfirst), so the seed chosen here is the one it uses.
    if config.getoption("hypothesis_seed", None) is None:
        config.option.hypothesis_seed = str(os.environ.get("HYPOTHESIS_SEED") or secrets.randbelow(2**32))


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.getoption("hypothesis_seed", None)
    return f"hypothesis seed: {seed} (replay with --hypothesis-seed={seed} or HYPOTHESIS_SEED={seed})"
