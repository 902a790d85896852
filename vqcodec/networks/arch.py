"""The layer order of every network, as plain data, shared by training and inference.

`networks.layers` builds torch modules from these lists (state-dict names are the list
positions) and `vqcodec.runtime` runs the same lists in numpy, without torch. Changing a
network means changing its list here, once; tests/test_runtime.py checks both agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Conv:
    """nn.ConvNd (or nn.ConvTransposeNd with `transpose`)."""

    c_in: int
    c_out: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    transpose: bool = False


@dataclass(frozen=True)
class Act:
    name: str  # "relu" or "gelu"


@dataclass(frozen=True)
class Res:
    """x + conv2(act(conv1(act(x)))): conv1 is 3-wide (dilated), conv2 is 1-wide."""

    c: int
    act: str
    dilation: int = 1


@dataclass(frozen=True)
class ConvNeXt:
    """Vocos block: depthwise conv, LayerNorm, pointwise MLP (GELU), scaled residual."""

    c: int
    hidden: int
    kernel: int = 7


Layer = Conv | Act | Res | ConvNeXt


def image_encoder(in_ch: int, widths: tuple[int, int, int, int], dim: int, blocks: int) -> list[Layer]:
    """(3, H, W) -> (dim, H/8, W/8): three stride-2 stages."""
    c0, c1, c2, c3 = widths
    return [Conv(in_ch, c0, 3, padding=1), Act("relu"),
            Conv(c0, c1, 4, 2, 1), Act("relu"),
            Conv(c1, c2, 4, 2, 1), Res(c2, "relu"),
            Conv(c2, c3, 4, 2, 1), *[Res(c3, "relu") for _ in range(blocks)], Act("relu"),
            Conv(c3, dim, 1)]


def image_decoder(out_ch: int, widths: tuple[int, int, int, int], dim: int, blocks: int) -> list[Layer]:
    """(dim, h, w) -> (3, 8h, 8w): the encoder's mirror image."""
    c0, c1, c2, c3 = widths
    up = dict(stride=2, padding=1, transpose=True)
    return [Conv(dim, c3, 3, padding=1), *[Res(c3, "relu") for _ in range(blocks)], Act("relu"),
            Conv(c3, c2, 4, **up), Res(c2, "relu"), Act("relu"),
            Conv(c2, c1, 4, **up), Act("relu"),
            Conv(c1, c0, 4, **up), Act("relu"),
            Conv(c0, out_ch, 3, padding=1)]


def speech_encoder(n_mels: int, width: int, dim: int) -> list[Layer]:
    """(n_mels, 2T) log-mel frames at 100 Hz -> (dim, T) latents at 50 Hz."""
    return [Conv(n_mels, width, 3, padding=1), Res(width, "gelu", 1), Res(width, "gelu", 3),
            Conv(width, width, 4, 2, 1),
            Res(width, "gelu", 1), Res(width, "gelu", 3), Act("gelu"), Conv(width, dim, 1)]


def speech_decoder_pre(dim: int, width: int) -> list[Layer]:
    return [Conv(dim, width, 3, padding=1), Res(width, "gelu", 1), Res(width, "gelu", 3)]


def speech_decoder_up(width: int) -> Conv:
    return Conv(width, width, 4, 2, 1, transpose=True)


def speech_decoder_blocks(width: int, blocks: int) -> list[Layer]:
    return [ConvNeXt(width, 3 * width) for _ in range(blocks)]
