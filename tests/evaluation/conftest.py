"""The evaluator over the session's digit classifier (``classifier_cache`` in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def evaluator(classifier_cache):
    from ganforge.evaluation import Evaluator

    return Evaluator(cache_root=classifier_cache)
