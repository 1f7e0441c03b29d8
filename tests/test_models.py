"""The networks match the paper's Tables 2 and 3 (layers, sizes, parameters, cost).

Shape-only checks run on PyTorch's ``meta`` device (no arithmetic), so any
input size is free; numerics run on the CPU at 32 × 32 (and 32 × 64).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
import torch
from torch import nn

from slidemap.errors import SlidemapError
from slidemap.models import (
    MODELS,
    ResUNet,
    UNet,
    build_model,
    count_flops,
    layer_summary,
    model_config,
)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def layers(model: nn.Module, kind: type) -> list[Any]:
    return [m for m in model.modules() if type(m) is kind]


# --- parameters and layers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs", "channels", "params"),
    [
        ("unet", {}, 4, 2_158_849),
        ("unet", {}, 5, 2_158_993),
        ("resunet", {}, 4, 8_910_721),
        ("resunet", {}, 5, 8_911_361),
        ("resunet", {"up_halves_width": False}, 4, 11_320_513),
        ("resunet", {"up_halves_width": False}, 5, 11_321_153),
    ],
)
def test_parameter_counts(name: str, kwargs: dict[str, Any], channels: int, params: int) -> None:
    model = build_model(name, channels, **kwargs)
    assert n_params(model) == params
    # SPEC §8: U-Net ≈ 2.16 M; ResU-Net 8.9–11.3 M depending on the transposed-conv width
    if name == "unet":
        assert round(params / 1e6, 2) == 2.16
    else:
        assert round(params / 1e6, 1) == (8.9 if kwargs == {} else 11.3)


def test_unet_layers_match_table_2() -> None:
    model = UNet(in_channels=5)
    conv = layers(model, nn.Conv2d)
    up = layers(model, nn.ConvTranspose2d)
    assert len(conv) == 19 and len(up) == 4
    assert [m.kernel_size for m in conv] == [(3, 3)] * 18 + [(1, 1)]
    assert all(m.stride == (1, 1) and m.padding in ((1, 1), (0, 0)) for m in conv)
    assert [m.out_channels for m in up] == [128, 64, 32, 16]
    assert all(
        (m.kernel_size, m.stride, m.padding, m.output_padding) == ((3, 3), (2, 2), (1, 1), (1, 1))
        for m in up
    )
    assert not layers(model, nn.BatchNorm2d)
    (pool,) = layers(model, nn.MaxPool2d)
    assert (pool.kernel_size, pool.stride) == (2, 2)


TABLE_3_CHANNELS = [64, 64, 128, 128, 256, 256, 512, 512, 256, 256, 128, 128, 64, 64, 1]
TABLE_3_STRIDES = [1, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1]


@pytest.mark.parametrize("halves", [True, False])
def test_resunet_layers_match_table_3(halves: bool) -> None:
    model = ResUNet(in_channels=5, up_halves_width=halves)
    conv = layers(model, nn.Conv2d)
    projections = [m for m in conv if m.kernel_size == (1, 1) and m.out_channels != 1]
    main_path = [m for m in conv if m not in projections]
    assert len(main_path) == 15  # Table 3 counts the main path: Conv 1 … Conv 15
    assert len(projections) == 7  # every residual block changes width or stride
    assert [m.out_channels for m in main_path] == TABLE_3_CHANNELS
    assert [m.stride[0] for m in main_path] == TABLE_3_STRIDES
    assert [m.kernel_size for m in main_path] == [(3, 3)] * 14 + [(1, 1)]
    up = layers(model, nn.ConvTranspose2d)
    assert [(m.in_channels, m.out_channels) for m in up] == (
        [(512, 256), (256, 128), (128, 64)] if halves else [(512, 512), (256, 256), (128, 128)]
    )
    assert not layers(model, nn.MaxPool2d)


def test_resunet_blocks_are_pre_activation_except_the_first() -> None:
    model = ResUNet(in_channels=5)
    pre_activation = [nn.BatchNorm2d, nn.ReLU, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Conv2d]
    for block in (model.enc2, model.enc3, model.bridge, *model.decoder):
        assert [type(m) for m in block.body] == pre_activation
    # the first block sees the raw bands: conv → BN → ReLU → conv (Zhang et al.'s ResUNet)
    assert [type(m) for m in model.enc1.body] == pre_activation[2:]
    assert [type(m) for m in model.enc1.shortcut] == [nn.Conv2d, nn.BatchNorm2d]


# --- output sizes (Tables 2 and 3) ----------------------------------------------------------

TABLE_2 = [  # (C, H) of Table 2's "Output size" column, 128 × 128 input, row by row
    *[(16, 128), (16, 128), (16, 64)],
    *[(32, 64), (32, 64), (32, 32)],
    *[(64, 32), (64, 32), (64, 16)],
    *[(128, 16), (128, 16), (128, 8)],
    *[(256, 8), (256, 8)],
    *[(128, 16), (128, 16), (128, 16)],
    *[(64, 32), (64, 32), (64, 32)],
    *[(32, 64), (32, 64), (32, 64)],
    *[(16, 128), (16, 128), (16, 128)],
    (1, 128),
]
TABLE_3 = {  # input side → H of Table 3's three "Output size" columns, Conv 1 … Conv 15
    128: [128, 128, 64, 64, 32, 32, 16, 16, 32, 32, 64, 64, 128, 128, 128],
    64: [64, 64, 32, 32, 16, 16, 8, 8, 16, 16, 32, 32, 64, 64, 64],
    32: [32, 32, 16, 16, 8, 8, 4, 4, 8, 8, 16, 16, 32, 32, 32],
}


def test_unet_summary_matches_table_2_output_sizes() -> None:
    rows = layer_summary(UNet(in_channels=4), 128, 128)
    assert [(c, h) for _, (c, h, _) in rows] == TABLE_2
    assert all(h == w for _, (_, h, w) in rows)
    assert [name for name, _ in rows].count("pool") == 4


@pytest.mark.parametrize("side", [128, 64, 32])
def test_resunet_summary_matches_table_3_output_sizes(side: int) -> None:
    rows = layer_summary(ResUNet(in_channels=4), side, side)
    main = [shape for name, shape in rows if "shortcut" not in name and "ups" not in name]
    assert main == [(c, h, h) for c, h in zip(TABLE_3_CHANNELS, TABLE_3[side], strict=True)]
    ups = [shape for name, shape in rows if "ups" in name]
    assert ups == [(256, side // 4, side // 4), (128, side // 2, side // 2), (64, side, side)]
    assert len([name for name, _ in rows if "shortcut" in name]) == 7


def test_summary_and_flops_leave_the_model_alone() -> None:
    model = build_model("resunet", 5).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layer_summary(model, 32, 32)
    count_flops(model, 32, 32)
    assert model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


# --- any size that is a multiple of 16 --------------------------------------------------------


@pytest.mark.parametrize("name", ["unet", "resunet"])
@pytest.mark.parametrize("shape", [(32, 32), (64, 64), (128, 128), (256, 256), (64, 128), (48, 80)])
def test_output_shape_equals_input_shape(name: str, shape: tuple[int, int]) -> None:
    with torch.device("meta"):
        out = build_model(name, 5)(torch.empty(2, 5, *shape))
    assert out.shape == (2, 1, *shape)


@pytest.mark.parametrize("name", ["unet", "resunet"])
def test_non_square_forward_on_cpu(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 5).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 5, 32, 64))
    assert out.shape == (1, 1, 32, 64) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["unet", "resunet"])
@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((1, 5, 40, 64), "multiples of 16, got 40 x 64; pad to 48 x 64"),
        ((1, 5, 64, 100), "multiples of 16, got 64 x 100; pad to 64 x 112"),
        ((5, 32, 32), r"input must be a batch \(N, C, H, W\), got shape \(5, 32, 32\)"),
    ],
)
def test_bad_input_shape_is_refused(name: str, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_model(name, 5)(torch.zeros(shape))


# --- registry --------------------------------------------------------------------------------


def test_registry_names() -> None:
    assert {"unet": UNet, "resunet": ResUNet} == MODELS
    for name in MODELS:
        assert model_config(build_model(name, 3))["name"] == name


@pytest.mark.parametrize(
    ("name", "channels", "config", "message"),
    [
        ("vgg", 5, {}, "unknown model 'vgg'; choose one of unet, resunet"),
        ("unet", 5, {"depth": 3}, "bad configuration for model 'unet': .*'depth'"),
        ("resunet", 0, {}, "bad configuration for model 'resunet': in_channels must be at least 1"),
        ("unet", 2.5, {}, "bad configuration for model 'unet': 'float' object"),
    ],
)
def test_bad_model_name_or_config(
    name: str, channels: Any, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(SlidemapError, match=message):
        build_model(name, channels, **config)


def test_model_config_refuses_a_foreign_model() -> None:
    with pytest.raises(TypeError, match="Conv2d is not a slidemap model"):
        model_config(nn.Conv2d(1, 1, 1))


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        ("unet", {}, {"name": "unet", "in_channels": 4}),
        ("resunet", {}, {"name": "resunet", "in_channels": 4, "up_halves_width": True}),
        (
            "resunet",
            {"up_halves_width": False},
            {"name": "resunet", "in_channels": 4, "up_halves_width": False},
        ),
    ],
)
def test_config_round_trip_through_json(
    name: str, config: dict[str, Any], expected: dict[str, Any]
) -> None:
    model = build_model(name, 4, **config)
    saved = json.loads(json.dumps(model_config(model)))
    assert saved == expected
    again = build_model(**saved)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in again.state_dict().items()} == shapes
    again.load_state_dict(model.state_dict())  # strict: same names, same shapes
    assert model_config(again) == model_config(model)


# --- memory format and mixed precision -------------------------------------------------------


@pytest.mark.parametrize("name", ["unet", "resunet"])
def test_channels_last_and_bf16_autocast(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 5).eval()
    x = torch.randn(2, 5, 32, 32)
    with torch.no_grad():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        cl = model(x.to(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf = model(x)
    assert torch.allclose(ref, cl, atol=1e-5)
    assert bf.dtype == torch.bfloat16 and bf.shape == ref.shape
    assert (torch.sigmoid(bf.float()) - torch.sigmoid(ref)).abs().max() < 0.02


@pytest.mark.parametrize("name", ["unet", "resunet"])
def test_bf16_autocast_backward(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 5).to(memory_format=torch.channels_last)
    x = torch.randn(2, 5, 32, 32).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = nn.functional.binary_cross_entropy_with_logits(model(x), (x[:, :1] > 0).float())
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


# --- cost --------------------------------------------------------------------------------------


def table_2_flops(channels: int, side: int) -> int:
    """U-Net FLOPs written out from Table 2: 2 × H × W × C_in × C_out × k² per layer."""
    convs = [(channels, 16, side), (16, 16, side)]  # (C_in, C_out, output side), 3 × 3
    ups = []  # (C_in, C_out, *input* side), 3 × 3 transposed
    for c_in, c in [(16, 32), (32, 64), (64, 128), (128, 256)]:
        side //= 2
        convs += [(c_in, c, side), (c, c, side)]
    for c_in, c in [(256, 128), (128, 64), (64, 32), (32, 16)]:
        ups.append((c_in, c, side))
        side *= 2
        convs += [(2 * c, c, side), (c, c, side)]
    flops = sum(2 * s * s * a * b * 9 for a, b, s in convs + ups)
    return flops + 2 * side * side * 16  # Conv 19, 1 × 1 to one channel


def test_flops_per_128_window() -> None:
    """SPEC §8: U-Net ≈ 1.6 GFLOP per 128² forward, ResU-Net 20–26 GFLOP."""
    unet = count_flops(UNet(5), 128, 128)
    assert unet == table_2_flops(5, 128) == 1_609_564_160
    assert count_flops(UNet(4), 128, 128) == table_2_flops(4, 128) == 1_604_845_568
    assert count_flops(ResUNet(5), 128, 128) == 20_440_940_544
    assert count_flops(ResUNet(5, up_halves_width=False), 128, 128) == 26_279_411_712
    assert round(unet / 1e9, 1) == 1.6


@pytest.mark.parametrize("name", ["unet", "resunet"])
def test_flops_are_proportional_to_pixels(name: str) -> None:
    model = build_model(name, 5)
    assert count_flops(model, 32, 64) * 8 == count_flops(model, 128, 128)


# --- learning ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "steps"), [("unet", 30), ("resunet", 6)])
def test_a_few_steps_overfit_one_batch(name: str, steps: int) -> None:
    """The networks can learn: Adam on one 32 × 32 batch halves the BCE within a few dozen steps.

    The U-Net has no batch norm and starts slowly (lr 3e-3, 30 steps: about a
    quarter of the first loss); the ResU-Net gets there in a handful at lr 1e-3.
    """
    torch.manual_seed(0)
    model = build_model(name, 5)
    x = torch.randn(2, 5, 32, 32)
    y = (x[:, :1] > 0).float()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3 if name == "unet" else 1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    first = loss_fn(model(x), y).item()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


@pytest.mark.parametrize("name", ["unet", "resunet"])
def test_tracing_for_onnx_export_is_warning_free(name: str) -> None:
    """The size check stays out of a traced graph (the ONNX export), which then takes any size."""
    model = build_model(name, 5).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit itself is deprecated
        warnings.simplefilter("error", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, torch.zeros(1, 5, 32, 32))
    with torch.no_grad():
        assert traced(torch.zeros(1, 5, 48, 32)).shape == (1, 1, 48, 32)
