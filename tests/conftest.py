"""Shared pytest fixtures."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

pytest_plugins = ["ci_policy"]   # the `needs` marker; CI=true turns skips into failures


@pytest.fixture(scope="session")
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture
def one_thread():
    """One torch thread: OpenMP with 2 threads crawls when other jobs share the 2 cores."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
