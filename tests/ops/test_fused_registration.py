"""The op as PyTorch sees it: opcheck (schema, fake, autograd registration), torch.compile,
and drop-in compatibility of the module (state_dict, DCGAN generator)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import random_state, run_bn_act
from ganforge.models.dcgan import DCGANGenerator
from ganforge.ops import UpsampleBlock


CL, NCHW = torch.channels_last, torch.contiguous_format
#: (input, weight) layouts; the fake kernel must give the output the real op gives for each.
LAYOUT_PAIRS = {"nchw": (NCHW, NCHW), "channels_last": (CL, CL), "nchw-input-cl-weight": (NCHW, CL),
                "cl-input-nchw-weight": (CL, NCHW)}


def op_args(memory_format, with_running_stats: bool, dtype=torch.float32, weight_format=None):
    x = torch.randn(2, 3, 3, 3, dtype=dtype).contiguous(memory_format=memory_format).requires_grad_()
    weight = torch.randn(3, 4, 4, 4, dtype=dtype).contiguous(memory_format=weight_format or memory_format)
    weight.requires_grad_()
    gamma = (1 + 0.1 * torch.randn(4, dtype=dtype)).requires_grad_()
    beta = torch.randn(4, dtype=dtype, requires_grad=True)
    stats = (torch.zeros(4, dtype=dtype), torch.ones(4, dtype=dtype)) if with_running_stats else (None, None)
    return (x, weight, gamma, beta, *stats, [2, 2], [1, 1], 1e-5, 0.2)


@pytest.mark.parametrize("layouts", LAYOUT_PAIRS)
@pytest.mark.parametrize("with_running_stats", [False, True], ids=["train", "eval"])
def test_opcheck_forward(extension, layouts, with_running_stats):
    input_format, weight_format = LAYOUT_PAIRS[layouts]
    torch.library.opcheck(torch.ops.ganforge.upsample_bn_act.default,
                          op_args(input_format, with_running_stats, weight_format=weight_format))


@pytest.mark.parametrize("layouts", LAYOUT_PAIRS)
def test_opcheck_backward(extension, layouts):
    input_format, weight_format = LAYOUT_PAIRS[layouts]
    x, weight, gamma, beta, *_ = (a.detach() if isinstance(a, torch.Tensor) else a
                                  for a in op_args(input_format, False, weight_format=weight_format))
    out, conv_out, mean, var = torch.ops.ganforge.upsample_bn_act(
        x, weight, gamma, beta, None, None, [2, 2], [1, 1], 1e-5, 0.2)
    args = (torch.randn_like(out), x, weight, gamma, beta, conv_out, mean, var, True, [2, 2],
            [1, 1], 1e-5, 0.2, [True, False, True, True])
    torch.library.opcheck(torch.ops.ganforge.upsample_bn_act_backward.default, args)


def test_torch_compile_fullgraph_matches_eager(extension):
    torch._dynamo.reset()
    eager = UpsampleBlock(4, 3, impl="cpu")
    compiled_block = UpsampleBlock(4, 3, impl="cpu")
    state = random_state(eager)
    eager.load_state_dict(state)
    compiled_block.load_state_dict(state)
    compiled = torch.compile(compiled_block, fullgraph=True)
    x = torch.randn(2, 4, 3, 3)
    outputs = []
    for block in (eager, compiled):
        leaf = x.clone().requires_grad_()
        out = block(leaf)
        out.square().sum().backward()
        outputs.append((out, leaf.grad))
    torch.testing.assert_close(outputs[1][0], outputs[0][0])
    torch.testing.assert_close(outputs[1][1], outputs[0][1])
    torch.testing.assert_close(compiled_block[1].running_var, eager[1].running_var)
    torch.testing.assert_close(compiled_block[0].weight.grad, eager[0].weight.grad)
    assert int(compiled_block[1].num_batches_tracked) == int(eager[1].num_batches_tracked) == 4


def test_state_dict_matches_sequential_and_round_trips(extension):
    sequential = nn.Sequential(nn.ConvTranspose2d(5, 3, 4, 2, 1, bias=False), nn.BatchNorm2d(3),
                               nn.LeakyReLU(0.2))
    fused = UpsampleBlock(5, 3, negative_slope=0.2, impl="cpu")
    assert list(fused.state_dict()) == list(sequential.state_dict())
    fused.load_state_dict(random_state(fused))
    x = torch.randn(4, 5, 3, 3)
    fused(x)  # one training step moves the running statistics
    reference = UpsampleBlock(5, 3, negative_slope=0.2, impl="torch")
    reference.load_state_dict(fused.state_dict())
    sequential.load_state_dict(fused.state_dict())
    for block in (fused, reference, sequential):
        block.eval()
    with torch.no_grad():
        torch.testing.assert_close(reference(x), fused(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(sequential(x), fused(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [28, 32])
def test_dcgan_generator_on_fused_blocks_matches_reference(extension, size):
    fused = DCGANGenerator(latent_dim=16, channels=1, size=size, ngf=8, impl="cpu")
    reference = DCGANGenerator(latent_dim=16, channels=1, size=size, ngf=8, impl="torch")
    reference.load_state_dict(fused.state_dict())
    z = torch.randn(6, 16)
    results = []
    for net in (fused, reference):
        out = net(z)
        out.sum().backward()
        results.append((out, {name: p.grad for name, p in net.named_parameters()}))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-4, atol=1e-5)
    for name, grad in results[1][1].items():
        torch.testing.assert_close(results[0][1][name], grad, rtol=1e-4,
                                   atol=1e-5 * float(grad.abs().max()) + 1e-7, msg=name)
    torch.testing.assert_close(fused.state_dict()["blocks.0.1.running_var"],
                               reference.state_dict()["blocks.0.1.running_var"])


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last],
                         ids=["nchw", "channels_last"])
def test_bn_act_part_alone(extension, memory_format):
    from ganforge.ops import bn_act

    y = (torch.randn(3, 4, 5, 6) * 2 + 7).contiguous(memory_format=memory_format).requires_grad_()
    gamma = (1 + 0.2 * torch.randn(4)).requires_grad_()
    beta = torch.randn(4, requires_grad=True)
    torch.library.opcheck(torch.ops.ganforge.bn_act.default, (y, gamma, beta, 1e-5, 0.2))
    grad = torch.randn(3, 4, 5, 6)
    fused = run_bn_act(y, gamma, beta, grad, impl="cpu", dtype=torch.float32)
    reference = run_bn_act(y, gamma, beta, grad, impl="torch", dtype=torch.float64)
    for got, want in zip(fused, reference):
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))
    leaves = [t.detach().double().requires_grad_() for t in (y[:2, :, :3, :3], gamma, beta)]
    assert torch.autograd.gradcheck(lambda *a: bn_act(*a, negative_slope=0.2, impl="cpu"), leaves)
