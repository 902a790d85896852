"""Speech: 1-D VQ-VAE with residual stages, causal prior over time, one record per chunk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator

from ..codec.params import DEFAULT_MAX_SECONDS, AudioParams
from ..errors import OutputError, UsageError
from .base import Kind

OTHER_MEDIA = {".mp3", ".opus", ".raw", ".vqc"}  # names `sample -o` refuses besides the readable media

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..api import Report
    from ..codec.container import Header, Record
    from ..files import Options
    from ..models.modelfile import CodecModel

MAX_FRAME_RATE = 100.0  # latent frames per second assumed when counting chunks without a model


class SpeechKind(Kind):
    name, code, params = "speech", 1, AudioParams
    quality_name = "val_loss"
    rate_name, rate_digits = "bit_per_second", 1
    sample_size = 150  # frames: 3 s

    def config(self, overrides: dict):
        from ..networks.config import SpeechModelConfig

        return SpeechModelConfig(**overrides)

    def runtime(self, cfg, params: dict):
        from ..runtime.speech import SpeechNet

        return SpeechNet(cfg, params)

    def network(self, cfg):
        from ..networks.speech_model import SpeechVQVAE

        return SpeechVQVAE(cfg)

    def float_prior(self, cfg):
        from ..prior import CausalPrior

        return CausalPrior(cfg.prior)

    def int_prior(self, cfg, tensors: dict):
        from ..prior import IntCausalPrior

        return IntCausalPrior.from_state(cfg.prior, tensors)

    def prior_loss(self, logits, x, reduction: str = "mean"):
        import torch.nn.functional as F

        # logits (B, S, K, T), x (B, T, S); -1 marks frames past the end of a file
        return F.cross_entropy(logits.permute(0, 1, 3, 2).reshape(-1, logits.shape[2]),
                               x.permute(0, 2, 1).reshape(-1), reduction=reduction,
                               ignore_index=-1)

    def plan(self, int_prior, shape):
        n, t, s = shape  # (N, T, S)
        return int_prior.plan([t] * n, s)

    def grid_shape(self, cfg, n: int, size: int):
        return (n, size, int(cfg.default_stages))

    def data(self, source, size: float, seed: int, cfg=None, rank: int = 0, world: int = 1,
             augment: bool = True):
        from ..train.data import SpeechSegments

        rate = cfg.sample_rate if cfg else 16000
        return SpeechSegments(source, rate, size, seed, rank, world, augment)  # (n, samples)

    def latents(self, net, x):
        return net.encoder(net.features(x))

    def synthesize(self, net, q, x):
        return net.synthesize(q, x.shape[-1])

    def codec_view(self, net, heard, x, choices: tuple[float, ...], rng, prior=None):
        """A batch as the codec's decoder meets it, for `train --codec-stages`: each example
        split into 1 s records, level-controlled as the encoder does (`heard`, what the encoder
        hears, sets each record's DC offset and gain; the target `x` gets the same), then coded
        at a stage count drawn from `choices` with the encoder's codes and partial-stage
        frames. Returns (heard, x, quantised latents (B, D, T)). The records are encoded
        together, without the encoder's context windows, so a record's first and last frames
        may code otherwise than in a stream. `prior`: the integer prior, for a model whose
        `rate_weight` makes the encoder's search entropy-constrained
        (codec.speech.coded_symbols)."""
        import numpy as np
        import torch

        from ..codec.speech import coded_latents, level_controlled, record_lengths

        frame, rate = net.cfg.frame, net.cfg.sample_rate
        lengths = record_lengths(heard.shape[-1] // frame)
        # copies: heard may be x itself, and both may share memory with the loader's batch
        h, t = (v.detach().float().cpu().numpy().copy() for v in (heard, x))
        for i in range(len(h)):
            offset, gain = level_controlled(h[i], frame, rate, lengths)
            h[i], t[i] = (h[i] - offset) * gain, (t[i] - offset) * gain
        heard, x = torch.from_numpy(h).to(x.device), torch.from_numpy(t).to(x.device)
        with torch.no_grad():
            z = net.encoder(net.features(heard)).float().cpu().numpy()  # (B, D, T)
        books = [q.codebook.detach().float().cpu().numpy() for q in net.quantizer.stages]
        picks = rng.integers(len(choices), size=len(z))
        weight = net.cfg.rate_weight
        out = [coded_latents(zb, books, choices[k], lengths, prior, weight)
               for zb, k in zip(z, picks)]
        return heard, x, torch.from_numpy(np.stack(out)).to(x.device)

    def reconstruction_loss(self, y, x, stft=None):
        return stft(y, x)  # multi-resolution STFT

    def quality(self, y, x, rec: float) -> float:
        return rec  # the multi-resolution STFT loss, lower is better

    def stages_of(self, cfg) -> int:
        return cfg.stages

    def stage_indices(self, idx, stage: int):
        return idx[..., stage]  # (B, T, S) -> (B, T)

    def example_size(self, opts) -> float:
        return opts.seconds

    def check_example_size(self, opts, cfg) -> None:
        import math

        frames = opts.seconds * cfg.sample_rate / cfg.frame  # the segment in latent frames
        # at least 5 frames: the spectral loss's longest window (2048) needs more than 1024 samples
        if not math.isfinite(frames) or frames < 5 or abs(frames - round(frames)) > 1e-6:
            ms = 1000 * cfg.frame / cfg.sample_rate
            raise UsageError(f"--seconds {opts.seconds:g}: give whole {ms:g} ms frames of the "
                             f"model, at least {5 * ms / 1000:g} s")

    def training_loss(self, cfg):
        from ..train.losses import MultiResolutionSTFTLoss

        return MultiResolutionSTFTLoss(cfg.sample_rate)

    def encode(self, net, x, cfg):
        return net.encode(x, cfg.stages)  # (B, S, T)

    def prior_examples(self, net, data, opts, cfg, device, count: int) -> list:
        """The codec's own records: 1 s chunks of a file from its start (the prior restarts at
        each), the last one short and padded with -1. One version per stage count, as the
        codec's search codes that many stages (n stages are not always the first n of n + 1):
        (B, T, versions, S), version v holding v + 1 stages and -1 after them."""
        import math

        import torch

        from ..codec.speech import FILE_CHUNK_FRAMES

        out = []
        s = cfg.stages
        for _ in range(math.ceil(count / 16)):
            x, n = data.chunks(16, FILE_CHUNK_FRAMES * cfg.frame)
            with torch.no_grad():
                z = net.encoder(net.features(x.to(device)))  # (B, D, T)
                idx = torch.full((z.shape[0], z.shape[-1], s, s), -1, dtype=torch.long)
                for v in range(s):
                    idx[:, :, v, : v + 1] = net.quantizer.codes(z, v + 1).transpose(1, 2).cpu()
            frames = torch.from_numpy(-(-n // cfg.frame))
            idx[torch.arange(idx.shape[1])[None, :] >= frames[:, None]] = -1
            out.append(idx)
        return out

    def all_stages(self, x):
        return x[:, :, -1] if x.dim() == 4 else x  # (B, T, S)

    def unpadded(self, x) -> list:
        if (x >= 0).all():  # nothing to cut: one plan for the batch
            return [x]
        return [row[: int((row[:, 0] >= 0).sum())][None] for row in x]

    def prior_crop(self, x):
        import random

        n = random.randint(1, x.shape[-1])  # any number of stages, as the codec codes them
        return x[:, :, n - 1, :n] if x.dim() == 4 else x[..., :n]  # (B, T, n)

    # -- coding files -------------------------------------------------------------------------
    def output_name(self, base: str) -> str:
        from ..files import AUDIO_FORMATS

        return base if Path(base).suffix.lower() in AUDIO_FORMATS else base + ".wav"

    def check_compress(self, o: Options) -> None:
        from .. import api

        if o.quality is not None or o.bpp is not None:
            raise UsageError("--quality and --bpp apply to images; speech sets its rate with --stages")
        if o.colour is not None:
            raise UsageError("--colour-correction/--no-colour-correction apply to images; "
                             "the input is speech")
        if o.rate is not None and not o.raw:
            raise UsageError("--rate describes --raw input; a file with a header states its own rate")
        if o.channels is not None and not o.raw:
            raise UsageError("--channels describes --raw input; a file with a header states its "
                             "own channels")
        if o.kbps is not None:
            if o.stages is not None:
                raise UsageError("give --stages or --kbps, not both")
            if o.stream:
                raise UsageError("--kbps reads the whole input before coding it; "
                                 "--stream sets its rate with --stages")
            from ..codec.params import check_kbps

            check_kbps(o.kbps)
        model = api.get_model(o.model, self.name)
        if o.stages is not None and not 1 <= o.stages <= model.config.stages:
            raise UsageError(f"--stages must be between 1 and {model.config.stages} for model {model.name}")
        if o.codes is not None:
            from ..models.codesets import pick

            pick(model, o.codes)

    def compress_to(self, data, out: BinaryIO, o: Options) -> Report:
        from .. import api
        from ..media import audio_source

        channels = 1 if o.channels is None else o.channels
        info, blocks = audio_source(data, o.raw, o.rate, channels, o.max_seconds, o.on_clipped)
        if o.audio_blocks is not None:
            blocks = o.audio_blocks(blocks)
        low_latency = o.stream if o.low_latency is None else o.low_latency
        from ..codec.speech import FILE_CHUNK_FRAMES, STREAM_CHUNK_FRAMES

        chunk = o.chunk_frames or (STREAM_CHUNK_FRAMES if o.stream else FILE_CHUNK_FRAMES)
        return api.compress_audio_to(blocks, info, out, o.model, o.stages, chunk,
                                     flush=o.stream, low_latency=low_latency,
                                     level_control=o.level_control is not False, kbps=o.kbps,
                                     codes=o.codes)

    def extent(self, extra: dict) -> float:
        return extra["samples"] / extra["rate"]

    def output_format(self, dst: str | None, header: Header, o: Options) -> str:
        from .. import files
        from ..media import check_audio_format

        fmt = files.decoded_audio_format(dst, o.raw)
        check_audio_format(fmt, o.rate or header.params.rate, dst)
        return fmt

    def decompress_to(self, f: BinaryIO, header: Header, dst: str | None,
                      o: Options) -> tuple[dict, float]:
        from .. import api, files
        from ..media import write_audio

        fmt = self.output_format(dst, header, o)
        live = dst is None or files.is_pipe(dst)  # a reader waits: each chunk as it decodes
        rate, ch, blocks = api.decode_audio_blocks(
            f, header, o.model, o.rate, o.channels, batch_records=1 if live else 16,
            on_damage=o.on_damage, max_seconds=o.max_seconds, conceal=o.conceal,
            postfilter=o.postfilter is not False, on_truncated=o.on_truncated)
        with files.open_output(dst, o.force) as out:
            n = write_audio(blocks, rate, ch, out, fmt, flush=live)
        return {"audio_seconds": round(n / rate, 3), "rate": rate, "channels": ch}, n / rate

    def decompress_array(self, f: BinaryIO, header: Header, o: Options):
        """(waveform (n, channels) float32, sample rate)."""
        import numpy as np

        from .. import api

        rate, _, blocks = api.decode_audio_blocks(f, header, o.model,
                                                  postfilter=o.postfilter is not False)
        parts = list(blocks)
        return (np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)), rate

    def stream_indices(self, f: BinaryIO, header: Header, m: CodecModel, o: Options) -> np.ndarray:
        """(frames, stages); with `o.conceal` a damaged chunk's frames are -1."""
        import numpy as np

        from ..codec import container
        from ..codec.speech import SpeechDecoderStream

        dec = SpeechDecoderStream(m, header, max_seconds=o.max_seconds, conceal=o.conceal)
        out = []
        for rec in container.audio_records(f, header.params, dec.max_records):
            (idx,) = dec.indices([rec])
            length = dec._lengths_seen[0]
            out.append(idx if idx is not None else np.full((length, dec.stages), -1, dtype=np.int64))
        return np.concatenate(out)

    def header_records(self, f: BinaryIO, params) -> Iterator[Record]:
        from ..codec import container

        params.validate()  # before max_records divides by chunk_frames (0 in a forged header)
        return container.audio_records(f, params, params.max_records(MAX_FRAME_RATE, DEFAULT_MAX_SECONDS))

    def describe_size(self, params, total_bytes: int, last: Record | None) -> dict | None:
        if last is None:
            return None
        seconds = last.extra / params.rate  # the last record carries the total sample count
        return {"samples": last.extra, "seconds": round(seconds, 3),
                "bits_per_second": round(total_bytes * 8 / seconds, 1) if seconds else None}

    # -- sampling -----------------------------------------------------------------------------
    def sampled_stages(self, cfg) -> int:
        return int(cfg.default_stages)  # whole stages: the sampler has no partial last stage

    def example_files(self, folder: str | Path) -> list[Path]:
        from ..media import AUDIO_SUFFIXES
        from ..train.data import find_files

        return find_files(folder, AUDIO_SUFFIXES)

    def load_example(self, model: CodecModel, path: Path) -> np.ndarray:
        from ..train.data import load_mono

        return load_mono(path, model.config.sample_rate)  # (n,) float32

    def example_codes(self, model: CodecModel, x: np.ndarray) -> torch.Tensor:
        import numpy as np
        import torch

        x = np.pad(x, (0, -len(x) % model.config.frame))
        with torch.inference_mode():
            return model.net.encode(torch.from_numpy(x)[None], self.sampled_stages(model.config))[0]  # (S, T)

    def compare_samples(self, model: CodecModel, idx: torch.Tensor, real: list) -> tuple[dict, Any]:
        """The mean log-mel distance; the decoded waveforms."""
        from ..tools.sampling import render_speech, spectral_distance

        waves = render_speech(model, idx)
        return {"mean_logmel_l1_db": round(spectral_distance(waves, real, model.config.sample_rate), 3)}, waves

    def check_sample_output(self, output: str, compare: bool) -> None:
        from ..media import AUDIO_SUFFIXES, IMAGE_SUFFIXES

        suffix = Path(output).suffix.lower()  # other media names became folders of samples
        if not compare and suffix != ".wav" and suffix in AUDIO_SUFFIXES | IMAGE_SUFFIXES | OTHER_MEDIA:
            raise UsageError(f"-o {output}: speech samples are WAV files; name it *.wav, or a folder")

    def write_samples(self, model: CodecModel, idx: torch.Tensor, output: str, force: bool) -> None:
        """One WAV per sample: `output` itself for one .wav, numbered beside it for several,
        or sample_<i>.wav inside the folder `output`."""
        import soundfile as sf

        from ..files import atomic_output
        from ..tools.sampling import render_speech

        out, n = Path(output), len(idx)
        if out.suffix == ".wav":
            paths = [out] if n == 1 else [out.with_name(f"{out.stem}_{i}.wav") for i in range(n)]
        else:
            paths = [out / f"sample_{i}.wav" for i in range(n)]
        taken = [p for p in paths if p.exists()] if not force else []
        if taken:  # before any is written: all the samples or none
            raise OutputError(f"{taken[0]} already exists (use -f/--force to overwrite)")
        if out.suffix != ".wav":
            out.mkdir(parents=True, exist_ok=True)
        for p, wave in zip(paths, render_speech(model, idx)):
            with atomic_output(p, force) as f:
                sf.write(f, wave, model.config.sample_rate, format="WAV", subtype="PCM_16")


SPEECH = SpeechKind()
