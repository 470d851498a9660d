"""Shared test settings: deterministic hypothesis runs, one torch thread per worker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Tests run two workers on two cores: one intra-op thread each avoids oversubscription.
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a hard dependency
    pass

TEST_OUTPUT = Path(__file__).resolve().parent.parent / "test-output"


@pytest.fixture(scope="session")
def test_output_dir() -> Path:
    """A folder for artifacts worth looking at after a run (screenshots, figures)."""
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT
