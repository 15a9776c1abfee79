"""One digit classifier per test session, trained into a temporary cache directory."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def classifier_cache(tmp_path_factory):
    from ganforge.evaluation.classifier import load_or_train_classifier

    root = tmp_path_factory.mktemp("ganforge-cache")
    load_or_train_classifier(root=root)  # the one training of the session
    return root


@pytest.fixture(scope="session")
def evaluator(classifier_cache):
    from ganforge.evaluation import Evaluator

    return Evaluator(cache_root=classifier_cache)
