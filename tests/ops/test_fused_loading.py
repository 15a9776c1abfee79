"""Loading policy: importing ganforge never needs the extension; auto falls back with one
warning; explicit impls explain how to build; GANFORGE_DISABLE_EXTENSION forces the reference."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.ops import UpsampleBlock, dispatch, extension_info
from ganforge.ops import extension as loading


def run_python(code: str, env_extra: dict | None = None) -> str:
    import os

    env = dict(os.environ, **(env_extra or {}))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_importing_ganforge_does_not_load_the_extension():
    out = run_python("""
        import sys, ganforge, ganforge.ops, ganforge.models.dcgan
        print("ganforge._C" in sys.modules)
    """)
    assert out.strip() == "False"


def test_disable_env_forces_reference_and_block_works():
    out = run_python("""
        import json, sys, warnings
        warnings.simplefilter("error")
        import torch
        from ganforge.models.dcgan import DCGANGenerator
        from ganforge.ops import UpsampleBlock, extension_info
        block = UpsampleBlock(4, 3, impl="auto")
        out = block(torch.randn(2, 4, 3, 3))
        out.sum().backward()
        g = DCGANGenerator(latent_dim=8, channels=1, size=28, ngf=4, impl="cpu")
        assert g(torch.randn(2, 8)).shape == (2, 1, 28, 28)
        print(json.dumps({"shape": list(out.shape), "loaded": "ganforge._C" in sys.modules,
                          "info": extension_info()}))
    """, {"GANFORGE_DISABLE_EXTENSION": "1"})
    report = json.loads(out)
    assert report["shape"] == [2, 3, 6, 6]
    assert report["loaded"] is False
    assert report["info"]["disabled"] is True
    assert report["info"]["auto_impl"] == {"cpu": "torch", "cuda": "torch"}


@pytest.fixture
def missing_extension(monkeypatch):
    state = loading.ExtensionState(None, "ImportError: No module named 'ganforge._C'", False)
    monkeypatch.setattr(loading, "_state", state)
    monkeypatch.setattr(dispatch, "_warned", False)


def test_explicit_impl_without_extension_says_how_to_build(missing_extension):
    block = UpsampleBlock(4, 3, impl="cpu")
    with pytest.raises(loading.ExtensionUnavailableError,
                       match=r"pip install --no-build-isolation -e \."):
        block(torch.randn(2, 4, 3, 3))


def test_auto_without_extension_warns_once_and_uses_reference(missing_extension):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        blocks = [UpsampleBlock(4, 3, impl="auto") for _ in range(2)]
        out = blocks[0](torch.randn(2, 4, 3, 3))
    assert out.shape == (2, 3, 6, 6)
    messages = [str(w.message) for w in caught if "fused kernels are not available" in str(w.message)]
    assert len(messages) == 1


def test_unknown_impl_and_wrong_device_are_user_errors(extension):
    with pytest.raises(GanforgeError, match="unknown impl"):
        UpsampleBlock(4, 3, impl="triton")
    if not torch.cuda.is_available():
        with pytest.raises(GanforgeError, match="impl='cuda'"):
            UpsampleBlock(4, 3, impl="cuda")(torch.randn(2, 4, 3, 3))


def test_extension_info_is_json_and_consistent(extension):
    info = extension_info()
    json.dumps(info)
    assert info["built"] is True and info["cpu_kernels"] is True
    assert info["built_with_torch"] == torch.__version__
    assert info["auto_impl"]["cpu"] == "cpu"
    assert info["auto_impl"]["cuda"] == ("cuda" if info["cuda_kernels"] else "torch")
