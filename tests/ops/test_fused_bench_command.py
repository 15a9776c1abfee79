"""The body of ``ganforge bench``: input checks and the JSON it writes (no timing assertions)."""

from __future__ import annotations

import json

import pytest
import torch

from ganforge.cli.bench import bench
from ganforge.errors import GanforgeError


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_a_device_is_a_user_error():
    with pytest.raises(GanforgeError, match="no CUDA device"):
        bench(device="cuda", batch=None, dtype="float32", repeats=1, json_path=None,
              include_compile=False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(device="tpu"), "unknown device"),
    (dict(dtype="float8"), "unknown dtype"),
    (dict(batch=[1]), "at least 2"),
])
def test_bad_input_is_a_user_error(kwargs, message):
    args = dict(device="cpu", batch=[2], dtype="float32", repeats=1, json_path=None,
                include_compile=False)
    with pytest.raises(GanforgeError, match=message):
        bench(**{**args, **kwargs})


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_writes_median_seconds_per_case_and_impl(extension, tmp_path, capsys, dtype):
    path = tmp_path / "bench.json"
    bench(device="cpu", batch=[2], dtype=dtype, repeats=1, json_path=str(path),
          include_compile=False)
    results = json.loads(path.read_text())
    assert len(results) == 4 * 2 * 2  # blocks x passes x (block, bn+act)
    for case, times in results.items():
        assert dtype in case
        assert set(times) == {"eager", "fused"} and all(t > 0 for t in times.values()), case
    assert "median seconds" in capsys.readouterr().out
