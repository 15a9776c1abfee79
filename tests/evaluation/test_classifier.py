"""The digit classifier: its split, accuracy, determinism, and the checksummed cache."""

from __future__ import annotations

import shutil

import pytest
import torch

from ganforge.evaluation import classifier as C
from ganforge.evaluation.cache import CACHE_ENV, cache_dir, checksum_path, sha256_file, verified_digest


def test_split_is_stratified_disjoint_and_fixed():
    a, b = C.digit_split(), C.digit_split()
    assert len(a.train_labels) == 4000 and len(a.held_out_labels) == 1000
    assert torch.bincount(a.held_out_labels).tolist() == [100] * 10
    assert torch.bincount(a.train_labels).tolist() == [400] * 10
    assert torch.equal(a.held_out_images, b.held_out_images)
    train = {bytes(x.numpy().tobytes()) for x in a.train_images}
    assert not any(bytes(x.numpy().tobytes()) in train for x in a.held_out_images[:200])


def test_cached_classifier_is_accurate_and_loads_back(classifier_cache):
    cached = C.load_or_train_classifier(root=classifier_cache)
    assert cached.train_seconds is None  # loaded, not trained
    assert cached.sha256 == sha256_file(cached.path) == verified_digest(cached.path)
    split = C.digit_split()
    measured = C.accuracy(cached.model, split.held_out_images, split.held_out_labels)
    assert measured == pytest.approx(cached.held_out_accuracy)
    assert measured >= 0.98


def small_split():
    s = C.digit_split()
    return C.DigitSplit(s.train_images[:256], s.train_labels[:256], s.held_out_images[:64], s.held_out_labels[:64])


def test_training_is_deterministic_for_a_seed():
    split = small_split()
    a = C.train_classifier(split, seed=5, epochs=1).state_dict()
    b = C.train_classifier(split, seed=5, epochs=1).state_dict()
    c = C.train_classifier(split, seed=6, epochs=1).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_the_same_weights_make_the_same_file(classifier_cache, tmp_path):
    """The sha256 in every report's protocol names the weights, not when they were trained."""
    cached = C.load_or_train_classifier(root=classifier_cache)
    assert C._save(cached.model, tmp_path / "a.safetensors", 0.5) == C._save(cached.model, tmp_path / "b.safetensors", 0.5)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage_with_checksum", "no_checksum"])
def test_a_damaged_cache_is_retrained_not_fatal(classifier_cache, tmp_path, monkeypatch, damage):
    root = tmp_path / "cache"
    shutil.copytree(classifier_cache, root)
    path = C.classifier_path(root)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    elif damage == "garbage_with_checksum":
        path.write_bytes(b"not a safetensors file")
        checksum_path(path).write_text(sha256_file(path) + "\n")
    else:
        checksum_path(path).unlink()
    monkeypatch.setattr(C, "EPOCHS", 0)  # the retraining path, without paying for a real training
    retrained = C.load_or_train_classifier(root=root)
    assert retrained.train_seconds is not None
    assert verified_digest(path) == retrained.sha256
    assert not list(root.glob(".*.tmp"))
    again = C.load_or_train_classifier(root=root)
    assert again.train_seconds is None and again.sha256 == retrained.sha256


def test_cache_directory_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_dir() == tmp_path / "xdg" / "ganforge"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "ganforge"
