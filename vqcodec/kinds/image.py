"""Images: 2-D VQ-VAE, gated PixelCNN prior, one record per stream."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Iterator

from ..codec.params import ImageParams
from ..errors import BadStreamError, UsageError
from .base import Kind

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..api import Report
    from ..codec.container import Header, Record
    from ..files import Options
    from ..models.modelfile import CodecModel


class ImageKind(Kind):
    name, code, params, article = "image", 0, ImageParams, "an"
    quality_name = "val_psnr"
    rate_name, rate_digits = "bpp", 5
    sample_size = 128
    training_defaults: ClassVar[dict] = {"detail": True}  # the detail levels (codec/detail.py)

    def config(self, overrides: dict):
        from ..networks.config import ImageModelConfig

        return ImageModelConfig(**overrides)

    def runtime(self, cfg, params: dict):
        from ..runtime.image import ImageNet

        return ImageNet(cfg, params)

    def network(self, cfg):
        from ..networks.image_model import ImageVQVAE

        return ImageVQVAE(cfg)

    def float_prior(self, cfg):
        from ..prior import GatedPixelCNN

        return GatedPixelCNN(cfg.prior)

    def int_prior(self, cfg, tensors: dict):
        from ..prior import IntGatedPixelCNN

        return IntGatedPixelCNN.from_state(cfg.prior, tensors)

    def prior_loss(self, logits, x, reduction: str = "mean"):
        import torch.nn.functional as F

        return F.cross_entropy(logits, x, reduction=reduction)  # logits (B, K, h, w), x (B, h, w)

    def plan(self, int_prior, shape):
        return int_prior.plan(tuple(shape))  # (N, h, w)

    def grid_shape(self, cfg, n: int, size: int):
        from ..networks.config import FACTOR

        return (n, size // FACTOR, size // FACTOR)

    def data(self, source, size: float, seed: int, cfg=None, rank: int = 0, world: int = 1,
             augment: bool = True):
        from ..train.data import ImageCrops

        return ImageCrops(source, int(size), seed, rank, world, augment)  # (n, 3, size, size)

    def latents(self, net, x):
        return net.encoder(x)

    def synthesize(self, net, q, x):
        return net.decoder(q)

    def reconstruction_loss(self, y, x, stft=None):
        import torch.nn.functional as F

        return F.mse_loss(y, x)  # on [-1, 1] pixels

    def quality(self, y, x, rec: float) -> float:
        import torch
        import torch.nn.functional as F

        mse = F.mse_loss((y.clamp(-1, 1) + 1) * 127.5, (x + 1) * 127.5)
        return float(10 * torch.log10(255.0**2 / mse))

    def stages_of(self, cfg) -> int:
        return cfg.stages

    def stage_indices(self, idx, stage: int):
        return idx[..., stage] if idx.dim() == 4 else idx  # (B, h, w, S) or one stage (B, h, w)

    def example_size(self, opts) -> float:
        return opts.crop

    def check_example_size(self, opts, cfg) -> None:
        from ..networks.config import FACTOR

        if opts.crop < FACTOR or opts.crop % FACTOR:
            raise UsageError(f"--crop {opts.crop}: give a positive multiple of {FACTOR}")

    def encode(self, net, x, cfg):
        return net.encode(x)  # (B, S, h, w)

    def prior_examples(self, net, data, opts, cfg, device, count: int) -> list:
        import math

        import torch

        from ..networks.config import FACTOR

        size = min(opts.prior_crop, data.examples.min_side)
        size = size // FACTOR * FACTOR
        out = []
        for _ in range(math.ceil(count / 32)):
            with torch.no_grad():
                idx = net.encode(data.batch(32, size).to(device)).cpu()  # (B, S, h, w)
            out.append(idx[:, 0] if cfg.stages == 1 else idx.permute(0, 2, 3, 1))  # (B, h, w[, S])
        return out

    def prior_crop(self, x):
        import random

        # (B, h, w, S): any prefix of the stages, so one prior serves every level
        return x[..., : random.randint(1, x.shape[-1])] if x.dim() == 4 else x

    # -- coding files -------------------------------------------------------------------------
    def output_name(self, base: str) -> str:
        from ..media import IMAGE_SUFFIXES

        path = Path(base)  # decoded images are PNG unless -o names another format
        return str(path.with_suffix(".png")) if path.suffix.lower() in IMAGE_SUFFIXES else base + ".png"

    def check_compress(self, o: Options) -> None:
        from .. import api

        if o.stages is not None or o.kbps is not None:
            flag = "--stages" if o.stages is not None else "--kbps"
            raise UsageError(f"{flag} applies to speech; the input is an image")
        for given, flag in ((o.rate is not None, "--rate"), (o.stream, "--stream"),
                            (o.channels is not None, "--channels")):
            if given:
                raise UsageError(f"{flag} applies to speech; the input is an image")
        if o.low_latency is not None or o.chunk_frames is not None:
            flag = ("--chunk-ms" if o.low_latency is None else
                    "--low-latency" if o.low_latency else "--full-context")
            raise UsageError(f"{flag} applies to speech; the input is an image")
        if o.level_control is not None:
            flag = "--level-control" if o.level_control else "--no-level-control"
            raise UsageError(f"{flag} applies to speech; the input is an image")
        if o.codes is not None:
            raise UsageError("--codes applies to speech; the input is an image")
        from ..codec.image import check_quality

        check_quality(api.get_model(o.model, self.name), o.quality, o.bpp)

    def compress_to(self, data, out: BinaryIO, o: Options) -> Report:
        from .. import api

        return api.compress_image_to(data, out, o.model, o.max_pixels, o.progress, o.quality, o.bpp,
                                     o.colour is not False)

    def extent(self, extra: dict) -> float:
        return extra["width"] * extra["height"]

    def output_format(self, dst: str | None, header: Header, o: Options) -> str:
        from .. import files

        return files.decoded_image_format(dst)

    def decompress_to(self, f: BinaryIO, header: Header, dst: str | None,
                      o: Options) -> tuple[dict, float]:
        from .. import api, files
        from ..media import write_image

        fmt = self.output_format(dst, header, o)
        if (o.raw or o.rate is not None or o.channels is not None or o.postfilter is not None
                or o.conceal):
            raise UsageError("--raw, --rate, --channels, --conceal and --(no-)postfilter apply "
                             "to speech; the stream is an image")
        rgb, ch = api.decompress_image_from(f, header, o.model, o.max_pixels, o.progress)
        with files.open_output(dst, o.force) as out:
            write_image(rgb, ch, out, fmt)
        p = header.params
        return {"width": p.width, "height": p.height}, p.width * p.height

    def decompress_array(self, f: BinaryIO, header: Header, o: Options):
        """(H, W, 3) uint8, or (H, W) for a grey original."""
        import numpy as np

        from .. import api

        if o.postfilter is not None:
            raise UsageError("postfilter= applies to speech; the stream is an image")
        rgb, channels = api.decompress_image_from(f, header, o.model)
        if channels == 1:
            from PIL import Image

            return np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
        return rgb

    def stream_indices(self, f: BinaryIO, header: Header, m: CodecModel, o: Options) -> np.ndarray:
        """(h, w) at level 1, else (h, w, level)."""
        from ..codec.image import decode_indices, read_image_stream

        return decode_indices(m, header, read_image_stream(f, header, o.max_pixels))

    def header_records(self, f: BinaryIO, params) -> Iterator[Record]:
        from ..codec import container

        params.validate(max_pixels=1 << 62)  # malformed sizes are errors; `info` sets no limit
        rec = container.read_record(f)
        yield rec
        # an image is one record, flagged last, with nothing after it (as read_image_stream)
        if not rec.last:
            raise BadStreamError("malformed stream: image payload is not a single record")
        if f.read(1):
            raise BadStreamError("trailing data after the end of the image stream")

    def describe_size(self, params, total_bytes: int, last: Record | None) -> dict | None:
        return {"bits_per_pixel": round(total_bytes * 8 / max(1, params.width * params.height), 5)}

    # -- sampling -----------------------------------------------------------------------------
    def check_sample_size(self, size: int) -> None:
        from ..networks.config import FACTOR

        if size < FACTOR or size % FACTOR:
            raise UsageError(f"--size must be a positive multiple of {FACTOR} for images")

    def check_sample_output(self, output: str, compare: bool) -> None:
        if not output.lower().endswith(".png"):  # one grid (or the schemes' grids), a PNG
            raise UsageError(f"-o {output}: the sample grid of an image model is a PNG; name it *.png")

    def example_files(self, folder: str | Path) -> list[Path]:
        from ..media import IMAGE_SUFFIXES
        from ..train.data import find_files

        return find_files(folder, IMAGE_SUFFIXES)

    def load_example(self, model: CodecModel, path: Path) -> np.ndarray:
        from ..media import read_image

        return read_image(str(path), still=False)[0]  # (H, W, 3) uint8; a GIF's first frame

    def example_codes(self, model: CodecModel, x: np.ndarray) -> torch.Tensor:
        import torch

        from ..codec.image import encode_indices

        return torch.from_numpy(encode_indices(model, x)).reshape(1, -1)  # (1, h * w)

    def compare_samples(self, model: CodecModel, idx: torch.Tensor, real: list) -> tuple[dict, Any]:
        """RGB- and gradient-histogram distances; the decoded images as one grid."""
        import numpy as np

        from ..tools.sampling import colour_distance, decode_images, gradient_distance, tile_images

        imgs = decode_images(model, idx)
        pixels = np.concatenate([i.reshape(-1, 3) for i in imgs])
        real_pixels = np.concatenate([r.reshape(-1, 3) for r in real])
        return ({"gradient_histogram_tv": round(gradient_distance(imgs, real), 4),
                 "rgb_histogram_tv": round(colour_distance(pixels, real_pixels), 4)},
                tile_images(imgs))

    def write_samples(self, model: CodecModel, idx: torch.Tensor, output: str, force: bool) -> None:
        """One PNG grid of all samples."""
        from ..files import atomic_output
        from ..media import write_image
        from ..tools.sampling import decode_images, tile_images

        with atomic_output(output, force) as f:
            write_image(tile_images(decode_images(model, idx)), 3, f, "PNG")

    def write_comparison(self, outputs: dict, output: str, force: bool) -> None:
        """The schemes' grids side by side in one PNG."""
        import numpy as np

        from ..files import atomic_output
        from ..media import write_image

        strip = np.concatenate([np.pad(g, ((0, 0), (0, 8), (0, 0)), constant_values=255)
                                for g in outputs.values()], axis=1)
        with atomic_output(output, force) as f:
            write_image(strip, 3, f, "PNG")


IMAGE = ImageKind()
