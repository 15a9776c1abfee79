"""Plugin tests run torch on one thread: their networks are tiny, and on a shared 2-core
machine a second OpenMP thread mostly waits for the first."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
