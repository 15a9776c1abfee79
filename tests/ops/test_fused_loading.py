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


@pytest.fixture
def fresh_loading(monkeypatch):
    """extension_state() loads again inside the test, and dispatch may warn again."""
    monkeypatch.setattr(loading, "_state", None)
    monkeypatch.setattr(dispatch, "_warned", False)


def _load_recording_warnings() -> tuple[loading.ExtensionState, list[str], torch.Tensor]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state = loading.extension_state()
        blocks = [UpsampleBlock(4, 3, impl="auto") for _ in range(2)]
        out = blocks[1](torch.randn(2, 4, 3, 3))
    return state, [str(w.message) for w in caught], out


def test_build_for_another_torch_is_stale_warned_once_and_falls_back(extension, fresh_loading,
                                                                     monkeypatch):
    built_with = extension.torch_version
    monkeypatch.setattr(torch, "__version__", "2.99.0+elsewhere")
    state, messages, out = _load_recording_warnings()
    assert state.stale and state.module is None and state.built_with_torch == built_with
    assert out.shape == (2, 3, 6, 6)  # the reference ran
    (message,) = messages  # one warning, not a second "not available" one from auto
    assert built_with in message and "2.99.0+elsewhere" in message
    assert "pip install --no-build-isolation --no-deps -e ." in message
    with pytest.raises(loading.ExtensionUnavailableError, match="stale build"):
        UpsampleBlock(4, 3, impl="cpu")(torch.randn(2, 4, 3, 3))
    info = extension_info()
    assert info["stale"] is True and info["built"] is False
    assert info["built_with_torch"] == built_with and info["torch_now"] == "2.99.0+elsewhere"
    assert info["auto_impl"] == {"cpu": "torch", "cuda": "torch"}


def test_a_stale_build_that_fails_to_load_is_named_from_its_stamp(fresh_loading, monkeypatch,
                                                                   tmp_path):
    binary = tmp_path / "_C.so"
    binary.write_bytes(b"\x7fELF\x00junk\x00ganforge-build-torch-version=2.5.1+cu121;\x00more")

    def undefined_symbol():
        raise ImportError(f"{binary}: undefined symbol: _ZN3c1010TensorImpl7stridesEv")

    monkeypatch.setattr(loading, "_import_compiled", undefined_symbol)
    monkeypatch.setattr(loading, "extension_file", lambda: str(binary))
    state, messages, out = _load_recording_warnings()
    assert state.stale and state.built_with_torch == "2.5.1+cu121"
    (message,) = messages
    assert "2.5.1+cu121" in message and torch.__version__ in message and "undefined symbol" in message
    assert "pip install --no-build-isolation --no-deps -e ." in message


def test_an_unloadable_build_without_a_stamp_is_not_called_stale(fresh_loading, monkeypatch,
                                                                 tmp_path):
    binary = tmp_path / "_C.so"
    binary.write_bytes(b"\x7fELF no stamp here")

    def broken():
        raise ImportError("libcudart.so.13: cannot open shared object file")

    monkeypatch.setattr(loading, "_import_compiled", broken)
    monkeypatch.setattr(loading, "extension_file", lambda: str(binary))
    state, messages, _ = _load_recording_warnings()
    assert not state.stale and "libcudart" in state.error
    assert len(messages) == 1 and "fused kernels are not available" in messages[0]


def test_the_built_binary_carries_its_torch_version_stamp(extension):
    path = loading.extension_file()
    assert loading.recorded_torch_version(path) == extension.torch_version == torch.__version__
