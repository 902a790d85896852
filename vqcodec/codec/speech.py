"""Speech compression as a pair of streaming state machines, used for files and pipes alike.

Encoder: audio blocks at any rate/channel count -> mono 16 kHz -> chunks of `chunk_frames`
latent frames, each encoded with a little audio context on both sides, entropy-coded on its own
(the prior restarts per chunk) and written as one container record as soon as it is complete.

Decoder: records -> indices -> latents -> waveform, in one of two synthesis schedules named by
the stream header (`AudioParams.schedule`):

* full context (files, and streams written before version 3): the waveform is synthesised over
  a sliding window with context frames on both sides and a short crossfade between calls; the
  last SYN_RIGHT frames received wait for the next chunk as right context. Latency in
  streaming use: one chunk to fill it, ENC_RIGHT frames of encoder lookahead (40 ms), the next
  chunk (the hold-back) and a few ms of resampler margin.
* low latency (`compress --stream`): each chunk is synthesised alone, with SYN_LEFT frames of
  left context and its right side padded (`ChunkEnds`); it is emitted at once, and the padded
  continuation is crossfaded into the next chunk's start. Latency: one chunk plus ENC_RIGHT
  plus the work. The output depends only on the stream, never on how its bytes arrive.

In both, the waveform then goes through the pitch postfilter (codec/postfilter.py; on unless
`postfilter=False`), which holds back 20-30 ms more in the full-context schedule and nothing
in the low-latency one. Either way chunk boundaries leave no click, and a damaged chunk is
replaced by silence without touching its neighbours.

Level control (format version 7, on by default): the model was trained on speech at about
-15 dBFS and loses quality on quieter input (PESQ-nb -0.10 at -25 dBFS, -0.19 at -30 on 95
validation clips; docs/RESULTS.md).
So the encoder scales each record's audio towards that level and sends the gain it used as the
record's first payload byte (`LevelControl`, 0.5 dB steps); the decoder divides it out, both
sides with the same 10 ms ramp where the gain changes, so the output keeps the input's level.

The networks run in numpy (`model.runtime`); no torch is imported.
"""

from __future__ import annotations

import dataclasses

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import container, entropy
from .postfilter import RATE as POSTFILTER_RATE, PitchPostfilter
from ..errors import BadInputError, BadStreamError, LimitError, UsageError
from ..media import Resampler, resampled_length
from ..models import codesets
from ..models.modelfile import CodecModel
from ..runtime import vq
from .params import (DEFAULT_MAX_SECONDS, FULL_CONTEXT, LOW_LATENCY, SHARE_ONE, AudioParams,
                     split_stages)

if TYPE_CHECKING:
    from ..prior.int_causal1d import IntCausalPrior

ENC_LEFT, ENC_RIGHT = 8, 2  # encoder context, in latent frames (ENC_RIGHT is lookahead)
SYN_LEFT, SYN_RIGHT = 12, 2  # synthesis context; full context holds SYN_RIGHT frames back
XFADE = 80  # samples of crossfade between two synthesis calls
PADS = ("edge", "zero")  # how ChunkEnds may pad a chunk's right side


@dataclass(frozen=True)
class ChunkEnds:
    """How the low-latency schedule ends a chunk without the next one: `frames` latent frames
    of right padding ("edge": the last frame repeated, "zero": zeros) in place of the SYN_RIGHT
    frames full context waits for, and `xfade` samples of the padded continuation crossfaded
    into the next chunk. Part of the format: a stream with schedule LOW_LATENCY decodes with
    LOW_LATENCY_ENDS (docs/FORMAT.md); others exist only to be measured."""

    pad: str = "edge"
    frames: int = SYN_RIGHT
    xfade: int = XFADE

    def __post_init__(self) -> None:
        if self.pad not in PADS:
            raise ValueError(f"ChunkEnds pad must be one of {', '.join(PADS)}, not {self.pad!r}")


LOW_LATENCY_ENDS = ChunkEnds()

GAIN_STEP_DB = 0.5  # a gain byte b means (b - GAIN_ZERO) * GAIN_STEP_DB decibels
GAIN_ZERO = 128


def gain_of(byte: int) -> float:
    """The linear gain a record's gain byte stands for."""
    return float(10.0 ** ((byte - GAIN_ZERO) * GAIN_STEP_DB / 20))


def speech_level_db(x: np.ndarray, frame: int) -> float:
    """The level of speech in `x`: the 90th percentile of its frames' RMS, in dBFS (a pause
    or a quiet tail does not pull it down, a click does not push it up)."""
    n = max(1, len(x) // frame)
    frames = np.zeros(n * frame, dtype=np.float32)
    frames[: min(len(x), n * frame)] = x[: n * frame]
    rms = np.sqrt(np.mean(np.square(frames.reshape(n, frame), dtype=np.float64), axis=1))
    return float(20 * np.log10(quantile(rms, 0.9) + 1e-10))


def quantile(x: np.ndarray, q: float) -> float:
    """np.quantile(x, q) of a 1-D float64 array, to the bit (its default 'linear' method, the
    same float operations): np.quantile's masked-array check imports numpy.ma, 14 ms of every
    speech compress."""
    v = np.sort(x)  # NaN sorts last; np.quantile then answers NaN
    if np.isnan(v[-1]):
        return float("nan")
    pos = (len(v) - 1) * q  # numpy's "virtual index"
    lo = int(pos)  # floor: pos >= 0
    if lo >= len(v) - 1:  # numpy interpolates the last value with itself, from index -1
        a, b, t = v[-1], v[-1], pos + 1  # (inf - inf: NaN; -0.0 comes out 0.0)
    else:
        a, b, t = v[lo], v[lo + 1], pos - lo
    d = b - a
    return float(b - d * (1 - t) if t >= 0.5 else a + d * t)  # numpy's _lerp


DC_MIN = 1e-3  # a record's mean below this is speech's own asymmetry, not an offset


def dc_offset(x: np.ndarray) -> np.float32:
    """The DC offset level control removes from a record: its mean where that is at least
    DC_MIN (the real speech here has 0.0001-0.0003, phone prompts with an offset 0.004 on
    average), else 0. Removing a smaller mean would only shift digital silence off zero,
    where the encoder codes it as sound (16 % more bytes on `samples/speech.wav`)."""
    mean = float(x.mean(dtype=np.float64))
    return np.float32(mean if abs(mean) >= DC_MIN else 0.0)


@dataclass
class LevelControl:
    """The encoder's choice of each record's gain: towards `target` dBFS of speech level,
    never below `lowest` or above `highest` dB; it holds while the wanted gain is within `hold`
    dB of the current one or the record is silence (below `silence` dBFS), falls at once (a
    loud record is never driven into clipping) and rises by at most `rise` dB a second (a
    pause does not pump the noise up). Record by record, so the gains do not depend on how
    the input arrives. Target chosen on the validation speakers (docs/RESULTS.md)."""

    target: float = -15.0
    lowest: float = -20.0
    highest: float = 35.0
    hold: float = 3.0
    silence: float = -65.0
    rise: float = 6.0
    current: float | None = None  # dB

    def next(self, x: np.ndarray, frame: int, seconds: float) -> int:
        """The gain byte for a record whose model-rate audio is `x`."""
        level = speech_level_db(x, frame)
        want = min(self.highest, max(self.lowest, self.target - level))
        cur = self.current
        if cur is None:
            if level < self.silence:  # nothing heard yet: 0 dB, and no level to hold
                return GAIN_ZERO
            cur = want
        elif level >= self.silence and abs(want - cur) > self.hold:
            cur = want if want < cur else min(want, cur + self.rise * seconds)
        byte = int(np.clip(round(cur / GAIN_STEP_DB) + GAIN_ZERO, 0, 255))
        self.current = (byte - GAIN_ZERO) * GAIN_STEP_DB
        return byte
FILE_CHUNK_FRAMES = 50  # latent frames per record of a file: 1 s (the prior restarts per record)
# latent frames whose coding error chooses a file's code set (models/codesets.py): the first
# 5 s, so that a moment of silence before the speech does not decide it
CHOICE_FRAMES = 250
ACTIVE_DB = 30  # of those, the frames within this many dB of the loudest choose
STREAM_CHUNK_FRAMES = 10  # ... of a live stream (`compress --stream`): 200 ms


def frames_for(total_in: int, rate: int, model_rate: int, frame: int) -> tuple[int, int]:
    """(model-rate samples, latent frames) for a stream of `total_in` samples at `rate`."""
    m = resampled_length(total_in, rate, model_rate)
    return m, max(1, -(-m // frame))


def frames_with_last_stage(share: int, frames: int) -> int:
    """How many of a record's frames the encoder gives a partial last stage: share/256 of
    them, halves rounded up (13 of 50 at share 64)."""
    return (share * frames + SHARE_ONE // 2) // SHARE_ONE


def partial_codes(z: np.ndarray, codebooks: list[np.ndarray], stages: int,
                  lengths: list[int], share: int, cost: vq.Cost | None = None) -> np.ndarray:
    """(D, n) latents of consecutive records -> (n, stages + 1) symbols with a partial last
    stage (Plan1d's slots): in each record the last stage goes to the frames_with_last_stage
    frames where it brings the latent closest, the others code stages - 1 stages on their own
    (beam) search; the flag slot says which. `cost`: a rate term for the search (coded_symbols)."""
    full, fewer = vq.encode_both(z, codebooks, stages, cost=cost)  # (S, n), (S - 1, n)
    gain = (np.square(z - vq.decode(fewer, codebooks)).sum(0)
            - np.square(z - vq.decode(full, codebooks)).sum(0))
    flags = np.zeros(z.shape[1], dtype=bool)
    start = 0
    for length in lengths:
        best = np.argsort(-gain[start: start + length], kind="stable")
        flags[start + best[: frames_with_last_stage(share, length)]] = True
        start += length
    out = np.zeros((z.shape[1], stages + 1), dtype=np.int64)
    out[:, : stages - 1] = np.where(flags, full[: stages - 1], fewer).T
    out[:, stages - 1] = flags
    out[:, stages] = np.where(flags, full[stages - 1], 0)
    return out


def coded_symbols(z: np.ndarray, codebooks: list[np.ndarray], stages: int, share: int,
                  lengths: list[int], prior: IntCausalPrior | None = None,
                  weight: float = 0.0) -> np.ndarray:
    """(D, n) latents of consecutive records -> their (n, slots) symbols in the prior's layout
    (Plan1d), as `compress` codes them. With a rate weight w > 0 (the model's `rate_weight`)
    the search is entropy-constrained: a first search's codes give the prior its context from
    the frames before, then a second search minimises squared distance + w * bits under the
    prior for each code (the frame's earlier stages those of the path; docs/RESULTS.md,
    eighteenth session). The decoder is the same either way."""
    def search(cost: vq.Cost | None) -> np.ndarray:
        if share:
            return partial_codes(z, codebooks, stages, lengths, share, cost)
        return vq.encode(z, codebooks, stages, cost=cost).T

    symbols = search(None)
    if weight > 0 and prior is not None:
        symbols = search(prior.rate_cost(lengths, stages, share, symbols, weight))
    return symbols


def partial_indices(symbols: np.ndarray, stages: int) -> np.ndarray:
    """(..., stages + 1) symbols with a flag slot (partial_codes) -> (..., stages) indices,
    -1 where the last stage is not coded."""
    last = np.where(symbols[..., -2] != 0, symbols[..., -1], -1)
    return np.concatenate([symbols[..., : stages - 1], last[..., None]], axis=-1)


def level_controlled(x: np.ndarray, frame: int, rate: int,
                     lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """What level control does to `x`, consecutive records of `lengths` frames coded from a
    fresh start: (per-sample offset, per-sample gain); the encoder hears (x - offset) * gain.
    As `SpeechEncoderStream._latents` does record by record (each record's DC offset, its
    gain from LevelControl, 10 ms ramps between records), for `train --codec-stages`."""
    level = LevelControl()
    offsets, gains, pos = [], [], 0
    for length in lengths:
        audio = x[pos: pos + length * frame]
        off = dc_offset(audio)
        byte = level.next(audio - off, frame, length * frame / rate)
        offsets.append(np.full(len(audio), off, dtype=np.float32))
        gains.append(np.full(len(audio), gain_of(byte), dtype=np.float32))
        pos += length * frame
    return np.concatenate(offsets), _smooth(np.concatenate(gains))


def record_lengths(frames: int) -> list[int]:
    """A file's records: FILE_CHUNK_FRAMES frames each, the last one shorter."""
    return [min(FILE_CHUNK_FRAMES, frames - s) for s in range(0, frames, FILE_CHUNK_FRAMES)]


def coded_latents(z: np.ndarray, codebooks: list[np.ndarray], stages: float,
                  lengths: list[int], prior: IntCausalPrior | None = None,
                  weight: float = 0.0) -> np.ndarray:
    """(D, n) latents of consecutive records -> the quantised latents a decoder gets from a
    stream coding `stages` (2.25: a partial third stage), codes and frames chosen as the
    encoder chooses them (coded_symbols). What `train --codec-stages` teaches the decoder on."""
    whole, share = split_stages(stages, len(codebooks))
    symbols = coded_symbols(z, codebooks, whole, share, lengths, prior, weight)
    return vq.decode(partial_indices(symbols, whole).T if share else symbols.T, codebooks)


FIT_TRIES = 8  # streams coded by fit_rate at most, whole stage counts included


def fit_rate(code, seconds: float, kbps: float, model_stages: int,
             tries: int = FIT_TRIES) -> tuple[bytes, float]:
    """The stream of the most stages, on the 1/256 grid from 1 to `model_stages`, whose size
    (headers included) fits `kbps` kbit/s over `seconds`, and that stage count; `code(stages)`
    makes the stream. Whole stage counts first, from the top down, to the first that fits;
    between it and the next one up the size grows almost in a straight line with the share of
    frames that get the last stage (though not quite: the flags and the first frames cost more),
    so the search interpolates between the closest counts that fit and that do not (regula
    falsi, Illinois' variant, which keeps one end from staying put). It stops
    within 0.5 % of the budget or 2/256 of a stage (a few bit/s), or after `tries` streams
    (a model of more stages than `tries` codes each whole count first, so more), with the
    largest count that fitted. UsageError when one stage does not fit."""
    # bytes; capped, as kbps * 1000 * seconds overflows to inf (then nan // 8) for a huge kbps
    budget = int(min(kbps * 1000 * seconds, 2.0 ** 66) // 8)
    made: dict[int, bytes] = {}

    def size(j: int) -> int:
        made[j] = code(1 + j / SHARE_ONE)
        return len(made[j])

    hi = hi_size = None  # the closest count that does not fit
    for whole in range(model_stages, 0, -1):
        j = (whole - 1) * SHARE_ONE
        n = size(j)
        if n <= budget:
            break
        hi, hi_size = j, n
    else:
        raise UsageError(f"--kbps {kbps:g}: even 1 stage needs "
                         f"{n * 8 / seconds / 1000:.3f} kbit/s for this input")
    lo, over_lo = j, n - budget  # over_lo <= 0 < over_hi: bytes over the budget
    over_hi, kept = (hi_size - budget if hi is not None else 0), 0
    close = budget // 200  # bytes under the budget that are close enough: 0.5 %
    while hi is not None and hi - lo > 2 and -over_lo > close and len(made) < tries:
        j = lo + round((hi - lo) * -over_lo / (over_hi - over_lo))  # where the line crosses
        j = min(max(j, lo + 1), hi - 1)
        over = size(j) - budget
        if over <= 0:
            lo, over_lo = j, over
            over_hi /= 2 if kept == 1 else 1  # Illinois: lo moved twice, pull the line to hi
            kept = 1
        else:
            hi, over_hi = j, over
            over_lo /= 2 if kept == -1 else 1
            kept = -1
    return made[lo], 1 + lo / SHARE_ONE


class SpeechEncoderStream:
    """Push audio blocks, get container bytes back as soon as chunks are complete."""

    def __init__(self, model: CodecModel, rate: int, channels: int, stages: float | None = None,
                 chunk_frames: int = FILE_CHUNK_FRAMES, batch_chunks: int = 16, schedule: int = FULL_CONTEXT,
                 level_control: bool = True, latents: dict | None = None, codes: str | None = "auto",
                 live: bool = False):
        """`latents`: where to keep the encoder network's output for another encoder of the
        same audio and chunks at another stage count (fit_rate's trials), or find it.
        `codes`: the model's code set to use (models/codesets.py: CHOICES). With "auto" and
        a model of two sets, the latents of the first CHOICE_FRAMES frames choose (all of a
        shorter input; with `live`, those of the first record alone, which a live stream
        must send at once), and the header, which names the set, goes out with the first
        records. However the input arrives and however many records are coded at a time,
        those frames and so the stream are the same."""
        cfg = model.config
        self.sets = codesets.pick(model, codes)
        self.model, self.rate, self.channels = self.sets[0], rate, channels
        self.stages_given = stages  # None: the chosen set's default
        self.stages, self.share = split_stages(self.model.config.default_stages if stages is None
                                               else stages, cfg.stages)
        self.chunk, self.batch = chunk_frames, batch_chunks
        self.choice_frames = chunk_frames if live else max(CHOICE_FRAMES, chunk_frames)
        self.frame = cfg.frame
        self.resampler = Resampler(rate, cfg.sample_rate)
        self.audio = np.zeros(0, dtype=np.float32)  # model-rate mono from sample `offset` on
        self.offset = 0
        self.next_frame = 0
        self.total_in = 0
        # streams with gains are written in version 9's compact layout
        params = AudioParams(rate, channels, self.stages, chunk_frames, schedule, self.share,
                             int(level_control), int(level_control)).validate()
        self.params = params
        self.header: bytes | None = None  # once the code set is chosen
        self.header_sent = False
        if len(self.sets) == 1:
            self._choose(self.sets[0])
        self.compact = bool(params.compact)
        self.level = LevelControl() if level_control else None
        self.gain_byte = GAIN_ZERO  # the last record's: the next one's left context
        self.ideal_bits = 0.0
        self.payload_bytes = 0
        self.latents = latents

    def start(self) -> bytes:
        """The header, if the code set is known before any audio (a model of one set, or a
        set named): a live stream sends it at once, so its reader can load the model while
        the first chunk fills. Otherwise b"", and the first records bring it."""
        return self._with_header(b"") if self.header is not None else b""

    def push(self, block: np.ndarray) -> bytes:
        """Container bytes for the chunks `block` completes: the header before the first."""
        self.total_in += len(block)
        self._append(self.resampler.push(block.mean(axis=1, keepdims=True))[:, 0])
        return self._with_header(self._emit(final=False))

    def finish(self) -> bytes:
        if self.total_in == 0:
            raise BadInputError("empty input: no audio samples to compress")
        self._append(self.resampler.finish()[:, 0])
        return self._with_header(self._emit(final=True))

    def _with_header(self, out: bytes) -> bytes:
        if self.header_sent or self.header is None:
            return out
        self.header_sent = True
        return self.header + out

    def _choose(self, model: CodecModel) -> None:
        """Code with `model` (one of the model's code sets): its id goes in the header, and
        without a stage count given, it codes the set's default."""
        self.model = model
        if self.stages_given is None:
            self.stages, self.share = split_stages(model.config.default_stages, model.config.stages)
            self.params = dataclasses.replace(self.params, stages=self.stages,
                                              share=self.share).validate()
        self.header = container.Header("speech", model.codes[:4], self.params).to_bytes()

    def _append(self, x: np.ndarray) -> None:
        self.audio = np.concatenate([self.audio, x.astype(np.float32)])

    def _emit(self, final: bool) -> bytes:
        out = b""
        f = self.frame
        while True:
            # the first batch holds the frames that choose the code set
            batch = self.batch if self.header else max(self.batch, -(-self.choice_frames // self.chunk))
            if final:
                m, total = frames_for(self.total_in, self.rate, self.model.config.sample_rate, f)
                left = total - self.next_frame
                if left <= 0:
                    return out
                n_chunks = min(batch, -(-left // self.chunk))
            else:
                have = (self.offset + len(self.audio)) // f - ENC_RIGHT - self.next_frame
                n_chunks = min(batch, max(0, have) // self.chunk)
                if n_chunks == 0 or (self.header is None and n_chunks < batch):
                    return out  # until the choice's frames are all there, or the input ends
                total, m = None, None
            lengths = [self.chunk] * n_chunks
            if final and self.next_frame + n_chunks * self.chunk >= total:
                lengths[-1] = total - self.next_frame - (n_chunks - 1) * self.chunk
            out += self._code(lengths, last=final and self.next_frame + sum(lengths) >= total,
                              model_len=m)

    def _code(self, lengths: list[int], last: bool, model_len: int | None) -> bytes:
        f, start = self.frame, self.next_frame
        n = sum(lengths)
        lo, hi = (start - ENC_LEFT) * f, (start + n + ENC_RIGHT) * f
        seg = np.zeros(hi - lo, dtype=np.float32)
        a, b = max(lo, self.offset), min(hi, self.offset + len(self.audio))
        if model_len is not None:
            b = min(b, model_len)
        if b > a:
            seg[a - lo: b - lo] = self.audio[a - self.offset: b - self.offset]
        key = (start, tuple(lengths))
        if self.latents is not None and key in self.latents:
            z, gains = self.latents[key]  # LevelControl's state is only read in _latents
        else:
            z, gains = self._latents(seg, lengths)
            if self.latents is not None:
                self.latents[key] = z, gains
        if self.header is None:  # the first frames choose the code set
            self._choose_set(z, seg)
        idx = coded_symbols(z, self.model.runtime.codebooks, self.stages, self.share, lengths,
                            self.model.prior, self.model.config.rate_weight)  # (n, slots)
        plan = self.model.prior.plan(lengths, self.stages, self.share)
        symbols = np.zeros((len(lengths), max(lengths), plan.slots), dtype=np.int64)
        pos = 0
        for i, length in enumerate(lengths):
            symbols[i, :length] = idx[pos: pos + length]
            pos += length
        streams, ideal = entropy.encode(plan, symbols.reshape(-1), len(lengths),
                                        compact=self.compact)
        self.ideal_bits += ideal + 8 * len(gains)  # the gain bytes go as they are
        out = b""
        if gains:
            streams = [bytes([g]) + s for g, s in zip(gains, streams)]
        for i, s in enumerate(streams):
            final_record = last and i == len(streams) - 1
            out += container.record_bytes(s, final_record, self.total_in if final_record else 0)
            self.payload_bytes += len(s)
        self.next_frame += n
        drop = max(0, (self.next_frame - ENC_LEFT) * f - self.offset)
        self.audio, self.offset = self.audio[drop:], self.offset + drop
        return out

    def _choose_set(self, z: np.ndarray, seg: np.ndarray) -> None:
        """Choose the code set from the latents `z` of the first frames and their audio `seg`
        (with ENC_LEFT frames before): the frames of the choice window within ACTIVE_DB of
        its loudest, so that silence or quiet noise around the speech does not decide (its
        latents, coded well by either set, tip the sum). At every stage: the same set for
        every --stages, so a stream's size grows with them (fit_rate relies on it)."""
        f, n = self.frame, min(self.choice_frames, z.shape[1])
        frames = seg[ENC_LEFT * f: (ENC_LEFT + n) * f].reshape(n, f)
        level = 10 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-20)
        active = level >= level.max() - ACTIVE_DB
        self._choose(codesets.choose(z[:, :n][:, active], self.sets, self.model.config.stages))

    def _latents(self, seg: np.ndarray, lengths: list[int]) -> tuple[np.ndarray, list[int]]:
        """Latents of the batch's records from `seg`, their audio with ENC_LEFT and ENC_RIGHT
        frames of context, and with level control each record's gain byte. Each record is
        encoded from its own window, as if it came alone: float products differ in their last
        bits with the shape of a batch, so a batched pass would make the stream depend on how
        the input arrives. With level control a record's window first loses the record's DC
        offset (`dc_offset`: 0.05 of it cost 0.18 PESQ-nb on speech at -30 dBFS, and it
        would hide a quiet recording's level), then is scaled by the previous record's gain
        over its left context, a 10 ms ramp (as the decoder undoes it), then its own gain to
        the end of its lookahead."""
        f, rate = self.frame, self.model.config.sample_rate
        gains: list[int] = []
        offsets: list[np.float32] = []
        if self.level is not None:
            pos = ENC_LEFT * f
            for length in lengths:
                audio = seg[pos: pos + length * f]
                offsets.append(dc_offset(audio))
                gains.append(self.level.next(audio - offsets[-1], f, length * f / rate))
                pos += length * f
            left = self.gain_byte if self.next_frame else gains[0]  # the first: no left record
            self.gain_byte = gains[-1]
        parts, start = [], 0
        for i, length in enumerate(lengths):
            piece = seg[start * f: (start + ENC_LEFT + length + ENC_RIGHT) * f]
            if gains:
                curve = [gain_of(left)] * ENC_LEFT + [gain_of(gains[i])] * (length + ENC_RIGHT)
                piece = (piece - offsets[i]) * _smooth(np.repeat(np.array(curve, dtype=np.float32), f))
                left = gains[i]
            parts.append(self.model.runtime.latents(piece)[:, ENC_LEFT: ENC_LEFT + length])
            start += length
        return np.concatenate(parts, axis=1), gains


class SpeechDecoderStream:
    """Push container records, get audio blocks (n, channels) float32 back as they are ready.

    Strict by default: a damaged record raises BadStreamError. With `conceal`, it is replaced
    by silence and counted in `damaged`. `ends` exists to measure alternatives to the format's
    low-latency chunk ends; decoding a stream leaves it alone."""

    def __init__(self, model: CodecModel, header: container.Header, rate: int | None = None,
                 channels: int | None = None, max_seconds: float = DEFAULT_MAX_SECONDS,
                 conceal: bool = False, ends: ChunkEnds = LOW_LATENCY_ENDS,
                 postfilter: bool = True):
        p: AudioParams = header.params.validate(model.config.stages)
        cfg = model.config
        self.schedule, self.ends = p.schedule, ends
        self.model, self.stages, self.chunk, self.in_rate = model, p.stages, p.chunk_frames, p.rate
        self.share, self.gain, self.compact = p.share, p.gain, bool(p.compact)
        self.out_rate = rate or p.rate
        self.out_channels = channels or p.channels
        self.frame = cfg.frame
        self.conceal = conceal
        self.resampler = Resampler(cfg.sample_rate, self.out_rate)
        # the pitch postfilter works at 16 kHz: every bundled and default-trained model's rate
        self.postfilter = (PitchPostfilter()
                           if postfilter and cfg.sample_rate == POSTFILTER_RATE else None)
        self.latents = np.zeros((cfg.latent_dim, 0), dtype=np.float32)  # frames from `base` on
        # per frame the output's scale: 1 / the record's gain, 0 where a chunk was lost
        self.alive = np.zeros(0, dtype=np.float32)
        self.base = 0
        self.received = 0
        self.records = 0
        self.emitted = 0
        self.tail = np.zeros(0, dtype=np.float32)
        self.total_frames: int | None = None
        self.model_len: int | None = None
        self.target: int | None = None
        self.produced = 0
        self.damaged = 0
        self.max_seconds = max_seconds
        self.max_records = p.max_records(cfg.sample_rate / cfg.frame, max_seconds)

    @property
    def finished(self) -> bool:
        return self.total_frames is not None

    def push(self, records: list[container.Record]) -> np.ndarray:
        idx = self.indices(records)
        if idx:
            self._add_latents(idx)
        return self._synthesize(final=self.finished)

    def end_early(self) -> np.ndarray:
        """The stream broke off before its last record: end it after the frames received, as
        if the last record received had been the last; what was never received is lost."""
        self.total_frames = self.received
        self.model_len = self.received * self.frame
        extra = self.model_len * self.in_rate // self.model.config.sample_rate  # samples at `rate`
        self.target = (extra if self.out_rate == self.in_rate else
                       resampled_length(extra, self.in_rate, self.out_rate))
        return self._synthesize(final=True)

    def indices(self, records: list[container.Record]) -> list[np.ndarray | None]:
        """Entropy-decode records to (length, stages) index arrays, -1 where a partial last
        stage is not coded; None for a damaged record (only with `conceal`)."""
        lengths = self._lengths(records)
        for i, rec in enumerate(records):
            if not rec.intact and not self.conceal:
                raise BadStreamError(f"corrupt stream: chunk {self.records + i + 1} fails its "
                                     "checksum (--conceal replaces damaged chunks by silence)")
        self.records += len(records)
        good = [i for i, rec in enumerate(records) if rec.intact]
        self.damaged += len(records) - len(good)
        out: list[np.ndarray | None] = [None] * len(records)
        payloads = [records[i].payload for i in good]
        self._gains_seen = [1.0] * len(records)  # the gain each record's audio was coded at
        if self.gain:
            for i, p in zip(good, payloads):
                if not p:
                    raise BadStreamError(f"malformed stream: chunk {self.records - len(records) + i + 1}"
                                         " has no gain byte")
                self._gains_seen[i] = gain_of(p[0])
            payloads = [p[1:] for p in payloads]
        if good:
            glen = [lengths[i] for i in good]
            try:
                decoded: list[np.ndarray | None] = self._entropy_decode(payloads, glen)
            except BadStreamError:
                if not self.conceal:
                    raise
                # a record that passed its checksum and still does not decode (about one
                # damage in 65,536): alone, each record that does decode keeps its audio
                decoded = [self._decode_alone(p, n) for p, n in zip(payloads, glen)]
                self.damaged += sum(d is None for d in decoded)
            for i, d in zip(good, decoded):
                out[i] = d
        self.received += sum(lengths)
        self._lengths_seen = lengths
        return out

    def _entropy_decode(self, payloads: list[bytes], lengths: list[int]) -> list[np.ndarray]:
        """Each record's (length, stages) indices, -1 where a partial last stage is not coded."""
        plan = self.model.prior.plan(lengths, self.stages, self.share)
        flat = entropy.decode(plan, payloads, len(lengths) * max(lengths) * plan.slots,
                              compact=self.compact)
        idx = flat.reshape(len(lengths), max(lengths), plan.slots)
        if self.share:  # (stages 0..S-2, flag, stage S-1) -> stages, -1 where not coded
            idx = partial_indices(idx, self.stages)
        return [idx[j, :n] for j, n in enumerate(lengths)]

    def _decode_alone(self, payload: bytes, length: int) -> np.ndarray | None:
        try:
            return self._entropy_decode([payload], [length])[0]
        except BadStreamError:
            return None

    def _lengths(self, records: list[container.Record]) -> list[int]:
        """Frames in each record; checks where the last record is and the stream's length."""
        if self.finished and records:
            raise BadStreamError("malformed stream: data after the last chunk")
        if self.records + len(records) > self.max_records:
            raise LimitError(f"stream is longer than the limit of {self.max_seconds:.0f} s "
                             "(raise it with --max-seconds)")
        lengths = []
        for i, rec in enumerate(records):
            length = self.chunk
            if rec.last:
                if i != len(records) - 1:
                    raise BadStreamError("malformed stream: data after the last chunk")
                self.model_len, self.total_frames = frames_for(
                    rec.extra, self.in_rate, self.model.config.sample_rate, self.frame)
                length = self.total_frames - self.received - sum(lengths)
                if not 1 <= length <= self.chunk:
                    raise BadStreamError("malformed stream: sample count does not match chunks")
                self.target = (rec.extra if self.out_rate == self.in_rate else
                               resampled_length(rec.extra, self.in_rate, self.out_rate))
            lengths.append(length)
        return lengths

    def _add_latents(self, idx: list[np.ndarray | None]) -> None:
        lengths = self._lengths_seen
        z = np.zeros((self.model.config.latent_dim, sum(lengths)), dtype=np.float32)
        alive = np.zeros(sum(lengths), dtype=np.float32)
        start = 0
        for length, chunk, gain in zip(lengths, idx, self._gains_seen):
            if chunk is not None:
                z[:, start: start + length] = self.model.runtime.lookup(chunk.T)  # (D, length)
                alive[start: start + length] = 1 / gain  # the level control undone
            start += length
        self.latents = np.concatenate([self.latents, z], axis=1)
        self.alive = np.concatenate([self.alive, alive])

    def _synthesize(self, final: bool) -> np.ndarray:
        if self.schedule == LOW_LATENCY:
            return self._synthesize_chunks(final)
        f = self.frame
        end = self.received if final else self.received - SYN_RIGHT
        if end <= self.emitted:
            return self._finish_block(np.zeros(0, dtype=np.float32), final)
        w0 = max(self.base, self.emitted - SYN_LEFT)
        z = self.latents[:, w0 - self.base:]
        wave = self.model.runtime.synthesize(z, z.shape[1] * f)
        gain = np.repeat(self.alive[w0 - self.base:], f)
        wave = wave * _smooth(gain)
        a, b = (self.emitted - w0) * f, (end - w0) * f
        seg = self._crossfade(wave, a, b, XFADE)
        self.emitted = end
        if final and self.model_len is not None:
            seg = seg[: max(0, self.model_len - (self.emitted * f - len(seg)))]
        keep = max(self.base, self.emitted - SYN_LEFT)
        self.latents, self.alive = self.latents[:, keep - self.base:], self.alive[keep - self.base:]
        self.base = keep
        return self._finish_block(seg, final)

    def _crossfade(self, wave: np.ndarray, a: int, b: int, xfade: int) -> np.ndarray:
        """wave[a:b], its start crossfaded with the previous synthesis' continuation; keeps
        this synthesis' continuation (`xfade` samples past b) for the next segment."""
        seg = wave[a:b].copy()
        if len(self.tail):
            n = min(len(self.tail), len(seg))
            ramp = (np.arange(n, dtype=np.float32) + 0.5) / n
            seg[:n] = self.tail[:n] * (1 - ramp) + seg[:n] * ramp
        self.tail = wave[b: b + xfade].copy()
        return seg

    def _synthesize_chunks(self, final: bool) -> np.ndarray:
        """Every chunk received and not yet emitted, each synthesised alone (the same windows
        whatever the batching of records, so the output depends only on the stream)."""
        f, ends = self.frame, self.ends
        blocks = []
        while self.emitted < self.received:
            end = min(self.emitted + self.chunk, self.received)  # emitted is on a chunk boundary
            w0 = max(self.base, self.emitted - SYN_LEFT)
            z = self.latents[:, w0 - self.base: end - self.base]  # (D, left + chunk)
            alive = self.alive[w0 - self.base: end - self.base]
            pad = np.zeros((z.shape[0], ends.frames), dtype=np.float32)
            if ends.pad == "edge":
                pad += z[:, -1:]
            z = np.concatenate([z, pad], axis=1)
            alive = np.concatenate([alive, np.repeat(alive[-1:], ends.frames)])
            wave = self.model.runtime.synthesize(z, z.shape[1] * f) * _smooth(np.repeat(alive, f))
            a, b = (self.emitted - w0) * f, (end - w0) * f
            seg = self._crossfade(wave, a, b, ends.xfade)
            self.emitted = end
            if final and end == self.received:
                seg = seg[: max(0, self.model_len - (self.emitted * f - len(seg)))]
                blocks.append(self._finish_block(seg, True))
            else:  # the resampler's held-back samples go out now, against the padded continuation
                blocks.append(self._finish_block(seg, False, ahead=wave[b:]))
        keep = max(self.base, self.emitted - SYN_LEFT)
        self.latents, self.alive = self.latents[:, keep - self.base:], self.alive[keep - self.base:]
        self.base = keep
        if not blocks:
            return self._finish_block(np.zeros(0, dtype=np.float32), final)
        return np.concatenate(blocks)

    def _finish_block(self, mono: np.ndarray, final: bool, ahead: np.ndarray | None = None) -> np.ndarray:
        if self.postfilter is not None:
            pf = self.postfilter
            mono = pf.push(mono) if ahead is None else pf.push_ahead(mono, ahead)
            if final:
                mono = np.concatenate([mono, pf.finish()])
        out = (self.resampler.push(mono[:, None]) if ahead is None else
               self.resampler.push_ahead(mono[:, None], ahead[:, None]))
        if final:
            out = np.concatenate([out, self.resampler.finish()])
            out = out[: self.target - self.produced]
            if len(out) < self.target - self.produced:
                out = np.concatenate([out, np.zeros((self.target - self.produced - len(out), 1),
                                                    dtype=np.float32)])
        self.produced += len(out)
        return np.repeat(out, self.out_channels, axis=1).astype(np.float32)


def _smooth(gain: np.ndarray, width: int = 160) -> np.ndarray:
    """Soften the steps of a per-sample gain (10 ms ramps at 16 kHz), so a lost chunk fades
    out and in instead of clicking and a change of level is a ramp, not a step."""
    if len(gain) == 0 or (gain == gain[0]).all():
        return gain
    kernel = np.ones(width, dtype=np.float32) / width
    padded = np.pad(gain, (width // 2, width - width // 2 - 1), mode="edge")
    return np.convolve(padded, kernel, mode="valid").astype(np.float32)
