"""The networks match the paper's Tables 2 and 3 (layers, sizes, parameters)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from slidemap.errors import SlidemapError
from slidemap.models import (
    ResUNet,
    UNet,
    build_model,
    count_flops,
    layer_summary,
    model_config,
)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def convs(model: nn.Module, kind: type) -> list[nn.Module]:
    return [m for m in model.modules() if type(m) is kind]


@pytest.mark.parametrize(
    ("name", "kwargs", "channels", "params"),
    [
        ("unet", {}, 4, 2_158_849),
        ("unet", {}, 5, 2_158_993),
        ("resunet", {}, 5, 8_911_361),
        ("resunet", {"up_halves_width": False}, 5, 11_321_153),
    ],
)
def test_parameter_counts(name: str, kwargs: dict, channels: int, params: int) -> None:
    model = build_model(name, channels, **kwargs)
    assert n_params(model) == params
    # SPEC §8: U-Net ≈ 2.16 M; ResU-Net 8.9–11.3 M depending on the transposed-conv width
    low, high = (2.1e6, 2.2e6) if name == "unet" else (8.9e6, 11.4e6)
    assert low <= params <= high


def test_unet_layer_counts_match_table_2() -> None:
    model = UNet(in_channels=5)
    assert len(convs(model, nn.Conv2d)) == 19
    assert len(convs(model, nn.ConvTranspose2d)) == 4
    assert not convs(model, nn.BatchNorm2d)
    assert [m.out_channels for m in convs(model, nn.ConvTranspose2d)] == [128, 64, 32, 16]
    assert all(
        m.kernel_size == (3, 3) and m.stride == (2, 2) for m in convs(model, nn.ConvTranspose2d)
    )


def test_resunet_layer_counts_match_table_3() -> None:
    model = ResUNet(in_channels=5)
    all_convs = convs(model, nn.Conv2d)
    projections = [m for m in all_convs if m.kernel_size == (1, 1) and m.out_channels != 1]
    main_path = [m for m in all_convs if m not in projections]
    assert len(main_path) == 15  # Table 3 counts the main path: Conv 1 … Conv 15
    assert len(projections) == 7  # every residual block changes width or stride
    assert len(convs(model, nn.ConvTranspose2d)) == 3
    assert [m.out_channels for m in main_path] == [
        64,
        64,
        128,
        128,
        256,
        256,
        512,
        512,
        256,
        256,
        128,
        128,
        64,
        64,
        1,
    ]
    strides = [m.stride[0] for m in main_path]
    assert strides == [1, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1]
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())


def test_resunet_blocks_are_pre_activation() -> None:
    block = ResUNet(in_channels=5).enc2.body
    assert [type(m) for m in block] == [
        nn.BatchNorm2d,
        nn.ReLU,
        nn.Conv2d,
        nn.BatchNorm2d,
        nn.ReLU,
        nn.Conv2d,
    ]


TABLE_2_128 = [  # (layer, output C, H) of Table 2 for a 128 × 128 input
    (16, 128),
    (16, 128),
    (32, 64),
    (32, 64),
    (64, 32),
    (64, 32),
    (128, 16),
    (128, 16),
    (256, 8),
    (256, 8),
    (128, 16),
    (128, 16),
    (128, 16),
    (64, 32),
    (64, 32),
    (64, 32),
    (32, 64),
    (32, 64),
    (32, 64),
    (16, 128),
    (16, 128),
    (16, 128),
    (1, 128),
]
TABLE_3_128 = [  # main-path convs of Table 3 for a 128 × 128 input
    (64, 128),
    (64, 128),
    (128, 64),
    (128, 64),
    (256, 32),
    (256, 32),
    (512, 16),
    (512, 16),
    (256, 32),
    (256, 32),
    (128, 64),
    (128, 64),
    (64, 128),
    (64, 128),
    (1, 128),
]


def test_unet_summary_matches_table_2_output_sizes() -> None:
    rows = layer_summary(UNet(in_channels=4), 128, 128)
    assert [(c, h) for _, (c, h, w) in rows] == TABLE_2_128
    assert all(h == w for _, (c, h, w) in rows)


def test_resunet_summary_matches_table_3_output_sizes() -> None:
    rows = [
        r
        for r in layer_summary(ResUNet(in_channels=4), 128, 128)
        if "shortcut" not in r[0] and "ups" not in r[0]
    ]
    assert [(c, h) for _, (c, h, w) in rows] == TABLE_3_128


@pytest.mark.parametrize("name", ["unet", "resunet"])
@pytest.mark.parametrize("shape", [(32, 32), (64, 64), (128, 128), (256, 256), (64, 128)])
def test_output_shape_equals_input_shape(name: str, shape: tuple[int, int]) -> None:
    model = build_model(name, 5).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 5, *shape))
    assert out.shape == (2, 1, *shape)


@pytest.mark.parametrize("name", ["unet", "resunet"])
def test_side_not_multiple_of_16_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="multiples of 16, got 40 x 64; pad to 48 x 64"):
        build_model(name, 5)(torch.zeros(1, 5, 40, 64))


def test_unknown_model_and_bad_config() -> None:
    with pytest.raises(SlidemapError, match="unknown model 'vgg'; choose one of unet, resunet"):
        build_model("vgg", 5)
    with pytest.raises(SlidemapError, match="bad configuration for model 'unet'"):
        build_model("unet", 5, depth=3)


@pytest.mark.parametrize("name", ["unet", "resunet"])
def test_config_round_trip(name: str) -> None:
    model = build_model(name, 4)
    again = build_model(**model_config(model))
    assert [p.shape for p in model.state_dict().values()] == [
        p.shape for p in again.state_dict().values()
    ]
    assert model_config(again) == model_config(model)


@pytest.mark.parametrize("name", ["unet", "resunet"])
def test_channels_last_and_bf16_autocast(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 5).eval()
    x = torch.randn(1, 5, 32, 32)
    with torch.no_grad():
        ref = model(x)
        cl = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf = model(x)
    assert torch.allclose(ref, cl, atol=1e-4)
    assert bf.shape == ref.shape and torch.isfinite(bf).all()


def test_flops_per_128_window_match_the_cost_model() -> None:
    """SPEC §8: U-Net ≈ 1.6 GFLOP per 128² forward, ResU-Net 20–26 GFLOP."""
    assert count_flops(UNet(5), 128, 128) == pytest.approx(1.6e9, rel=0.02)
    assert 20e9 <= count_flops(ResUNet(5), 128, 128) <= 21e9
    assert 26e9 <= count_flops(ResUNet(5, up_halves_width=False), 128, 128) <= 26.5e9
    assert count_flops(UNet(5), 256, 256) == 4 * count_flops(UNet(5), 128, 128)


@pytest.mark.parametrize(("name", "steps"), [("unet", 60), ("resunet", 10)])
def test_a_few_steps_overfit_one_batch(name: str, steps: int) -> None:
    """The networks can learn: Adam on one batch halves the BCE within a few dozen steps."""
    torch.manual_seed(0)
    model = build_model(name, 5)
    x = torch.randn(4, 5, 32, 32)
    y = (x[:, :1] > 0).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    first = loss_fn(model(x), y).item()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
