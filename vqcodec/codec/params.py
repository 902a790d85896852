"""The media parameters a stream header carries, typed, with every limit checked in one place.

    image: width height channels [level [colour [flat [detail]]]]
    audio: rate channels stages chunk_frames [schedule [share [gain]]]

`level` (the residual stages an image stream codes) exists from format version 2 on, audio's
`schedule` (how the decoder synthesises chunk ends) from version 3 on, an image's `colour` (the
tile side of its colour correction map, 0 for none) in version 4, an image's `flat` (the block
side of its flat block map, 0 for none) in version 5, an image's `detail` (the quantiser step of
its detail layer in 1/DETAIL_UNIT levels, codec/detail.py; 0 for none) in version 8; a stream is written in the lowest version
that holds it, so level-1 images and full-context audio stay version 1 (readable by older
vqcodec, and byte-identical to what it wrote), and a low-latency stream is version 3, which
older vqcodec refuses by its version number instead of misreading it. Audio's `share` (the
frames of each record, in 1/256ths, that carry the last stage; 0: every frame) is version 6,
its `gain` (1: every record's payload starts with the gain byte of the encoder's level control,
codec/speech.py) version 7. Version 9 (`compact`) is what speech with level control is written
in now: the same fields packed into fewer bytes (`AudioParams.values`), no modality byte and a
shorter range coder tail (codec/container.py, codec/entropy.py); version 7 is still read (the
one case of two versions holding the same values). A reader holds every stream to that: a kind's parameters refuse a
version the kind does not have (images: 1, 2, 4, 5 and 8, speech: 1, 3, 6, 7 and 9) and a version higher than the lowest that
holds the values, so each stream has exactly one header.

`validate()` raises BadStreamError for values no encoder writes and LimitError for values over a
configured limit, before anything is allocated. The CLI's defaults for the limits are these
constants too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from ..errors import BadStreamError, LimitError, UsageError

DEFAULT_MAX_PIXELS = 100_000_000  # guards work (minutes on a CPU); memory no longer grows with it
DEFAULT_MAX_SECONDS = 24 * 3600.0
MIN_RATE, MAX_RATE = 1000, 768_000
MAX_CHANNELS = 64
MAX_CHUNK_FRAMES = 3000
MIN_COLOUR_TILE, MAX_COLOUR_TILE = 32, 4096  # pixels per side of a colour correction tile
FLAT_BLOCKS = (8,)  # pixels per side of a flat block (codec/flat.py): one index map position
# audio synthesis schedules (the `schedule` header value is the index)
FULL_CONTEXT, LOW_LATENCY = 0, 1
SCHEDULES = ("full-context", "low-latency")
SHARE_ONE = 256  # an audio stream's `share` is in 1/256ths of a record's frames
# A compact (version 9) header names these rates by their index, any other rate as itself
# (every rate is at least MIN_RATE, so the two never meet).
COMPACT_RATES = (8000, 16000, 11025, 22050, 44100, 48000, 32000, 24000, 12000)
# Image quality levels above a model's VQ stages: every stage plus a detail layer
# (codec/detail.py) with these quantiser steps, coarse to fine, in 1/DETAIL_UNIT levels.
# Steps 128 to 14 were chosen on 12 validation photos (tuxtype's, 768x512 crops;
# docs/RESULTS.md) to run from about 0.13 to 1 bpp over image-default's 0.105 there; step 9
# was added when the test photos, smoother, stopped at 0.56 bpp (the issue asks 0.6 or more).
DETAIL_UNIT = 4
DETAIL_STEPS = (512, 320, 208, 136, 88, 56, 36)
MIN_DETAIL, MAX_DETAIL = DETAIL_UNIT, 1 << 16  # 1 to 16384 levels: magnitudes fit int16


def image_levels(stages: int, detail: bool) -> int:
    """An image model's quality levels: its first 1..stages residual stages, then, for a model
    with a detail layer, all of them with the layer at each of DETAIL_STEPS."""
    return stages + (len(DETAIL_STEPS) if detail else 0)


def detail_step(level: int, stages: int) -> int:
    """The detail step (1/DETAIL_UNIT levels) of quality `level` of a `stages`-stage model;
    0 for a level without a detail layer."""
    return DETAIL_STEPS[level - stages - 1] if level > stages else 0


def split_stages(stages: float, model_stages: int) -> tuple[int, int]:
    """A stage count such as 2 or 2.5 -> (stages coded, share): 2.5 codes 3 stages, the third
    on half of each record's frames (share 128 of 256). UsageError outside 1..model_stages."""
    if not 1 <= stages <= model_stages:
        raise UsageError(f"--stages must be between 1 and {model_stages}")
    whole = int(stages)
    share = round((stages - whole) * SHARE_ONE)  # to the nearest 1/256: 2.999 is 3 stages
    if share == 0:
        return whole, 0
    if share == SHARE_ONE:
        return whole + 1, 0
    return whole + 1, share


def check_kbps(kbps: float) -> None:
    """A `--kbps` budget must be a positive, finite number (NaN is refused too)."""
    if not 0 < kbps < float("inf"):
        raise UsageError("--kbps must be a positive number")


def joined_stages(stages: int, share: int) -> int | float:
    """split_stages undone: 2 for 2 stages, 2.5 for 3 stages at share 128 (to 4 decimals)."""
    return round(stages - 1 + share / SHARE_ONE, 4) if share else stages


def _known_version(kind: str, versions: tuple[int, ...], version: int) -> None:
    if version not in versions:
        listed = ", ".join(map(str, versions[:-1])) + f" and {versions[-1]}"
        raise BadStreamError(f"malformed stream: {kind} streams have versions {listed}, not {version}")


def _lowest_version(kind: str, params: "ImageParams | AudioParams", version: int) -> None:
    if params.version() != version:
        raise BadStreamError(f"malformed stream: a version {version} {kind} header for values that "
                             f"version {params.version()} holds (streams are written in the lowest)")


@dataclass(frozen=True)
class ImageParams:
    width: int
    height: int
    channels: int  # 1 (grey) or 3 (RGB): the channel count to restore
    level: int = 1  # quality level: residual VQ stages coded per position
    colour: int = 0  # tile side in pixels of the colour correction map (0: none)
    flat: int = 0  # block side in pixels of the flat block map (0: none); needs `colour`
    detail: int = 0  # the detail layer's quantiser step in 1/DETAIL_UNIT levels (0: none)
    VERSIONS: ClassVar[tuple[int, ...]] = (1, 2, 4, 5, 8)  # format versions with an image layout
    FIELDS: ClassVar[dict[int, int]] = {1: 3, 2: 4, 4: 5, 5: 6, 8: 7}  # parameters a header carries

    def validate(self, max_pixels: int = DEFAULT_MAX_PIXELS) -> "ImageParams":
        if self.width < 1 or self.height < 1 or self.channels not in (1, 3) or self.level < 1:
            raise BadStreamError(f"malformed stream: image {self.width}x{self.height}x{self.channels}"
                                 f" at level {self.level}")
        if self.width * self.height > max_pixels:
            raise LimitError(f"stream claims {self.width}x{self.height} pixels, over the limit of "
                             f"{max_pixels} (raise it with --max-pixels)")
        return self

    def check_level(self, model_levels: int) -> "ImageParams":
        """Refuse a level the stream's model does not have (a forged or damaged header)."""
        if self.level > model_levels:
            raise BadStreamError(f"stream codes {self.level} residual stages, but its model has "
                                 f"{model_levels}")
        return self

    def version(self) -> int:
        """The lowest format version that holds these parameters."""
        if self.detail:
            return 8
        return 5 if self.flat else 4 if self.colour else 1 if self.level == 1 else 2

    @property
    def quality(self) -> int:
        """The quality level (`--quality`) that writes these parameters: the VQ stages coded,
        plus the rank of the detail step for a detail level. A step no level has (a stream
        of a later table) counts as the one above the coarser steps."""
        if not self.detail:
            return self.level
        return self.level + 1 + sum(s > self.detail for s in DETAIL_STEPS)

    def describe(self) -> dict[str, int | float]:
        """The fields as `info` shows them, with the quality level and the detail step."""
        out: dict[str, int | float] = dataclasses.asdict(self)
        out["stages"] = self.level
        out["level"] = self.quality
        out["detail"] = self.detail / DETAIL_UNIT
        return out

    @classmethod
    def count(cls, version: int) -> int:
        """How many parameters a header of `version` carries; BadStreamError for a version
        images do not have."""
        _known_version("image", cls.VERSIONS, version)
        return cls.FIELDS[version]

    @classmethod
    def from_header(cls, version: int, values: list[int]) -> "ImageParams":
        """The parameters a version `version` header carries; BadStreamError unless that is
        the version a writer would have used for them."""
        params = cls(*values)
        _lowest_version("image", params, version)
        if params.colour and not MIN_COLOUR_TILE <= params.colour <= MAX_COLOUR_TILE:
            raise BadStreamError(f"malformed stream: colour correction tiles of {params.colour} pixels")
        if params.detail and not MIN_DETAIL <= params.detail <= MAX_DETAIL:
            raise BadStreamError(f"malformed stream: a detail layer of step {params.detail}/{DETAIL_UNIT}")
        if params.flat and (params.flat not in FLAT_BLOCKS or not params.colour):
            raise BadStreamError(f"malformed stream: flat blocks of {params.flat} pixels"
                                 + ("" if params.colour else " without a colour correction map"))
        return params

    def values(self) -> tuple[int, ...]:
        return dataclasses.astuple(self)[: self.count(self.version())]


@dataclass(frozen=True)
class AudioParams:
    rate: int  # the input's sample rate, restored on output
    channels: int
    stages: int  # residual VQ stages coded per frame
    chunk_frames: int  # latent frames per record (the last record may hold fewer)
    schedule: int = FULL_CONTEXT  # FULL_CONTEXT or LOW_LATENCY (codec/speech.py says how)
    share: int = 0  # 1..255: the last stage is coded on share/256 of each record's frames
    gain: int = 0  # 1: each record's payload starts with its gain byte (level control)
    compact: int = 0  # 1: version 9, the compact layout of a stream with gains (none in the header)
    VERSIONS: ClassVar[tuple[int, ...]] = (1, 3, 6, 7, 9)  # format versions with a speech layout
    FIELDS: ClassVar[dict[int, int]] = {1: 4, 3: 5, 6: 6, 7: 7, 9: 5}  # parameters a header carries

    def validate(self, model_stages: int | None = None) -> "AudioParams":
        """Check the header's values; with `model_stages`, also that the model can decode them."""
        if not (MIN_RATE <= self.rate <= MAX_RATE and 1 <= self.channels <= MAX_CHANNELS
                and 1 <= self.stages and 1 <= self.chunk_frames <= MAX_CHUNK_FRAMES
                and 0 <= self.schedule < len(SCHEDULES) and 0 <= self.share < SHARE_ONE
                and not (self.share and self.stages < 2) and self.gain in (0, 1)
                and self.compact in (0, self.gain)):
            named = ", ".join(f"{k} {v}" for k, v in dataclasses.asdict(self).items() if k != "compact")
            raise BadStreamError(f"malformed stream: audio parameters ({named}) are invalid")
        if model_stages is not None and self.stages > model_stages:
            raise BadStreamError(f"malformed stream: {self.stages} stages, but the model has "
                                 f"{model_stages}")
        return self

    def version(self) -> int:
        """The lowest format version that holds these parameters."""
        if self.compact:
            return 9
        return 7 if self.gain else 6 if self.share else 1 if self.schedule == FULL_CONTEXT else 3

    @classmethod
    def count(cls, version: int) -> int:
        """How many parameters a header of `version` carries; BadStreamError for a version
        speech does not have."""
        _known_version("speech", cls.VERSIONS, version)
        return cls.FIELDS[version]

    @classmethod
    def from_header(cls, version: int, values: list[int]) -> "AudioParams":
        """The parameters a version `version` header carries; BadStreamError for an unknown
        schedule or unless that is the version a writer would have used for them."""
        if version == 9:
            return cls._from_compact(values)
        params = cls(*values)
        if not 0 <= params.schedule < len(SCHEDULES):
            raise BadStreamError(f"malformed stream: unknown synthesis schedule {params.schedule}")
        if params.gain not in (0, 1):
            raise BadStreamError(f"malformed stream: unknown level control {params.gain}")
        _lowest_version("speech", params, version)
        return params

    @classmethod
    def _from_compact(cls, values: list[int]) -> "AudioParams":
        """A version 9 header's fields: rate (COMPACT_RATES index, or the rate), channels,
        stages * 2 + schedule, share, chunk_frames; gains are implied."""
        rate, channels, mode, share, chunk = values
        if rate < len(COMPACT_RATES):
            rate = COMPACT_RATES[rate]
        elif rate in COMPACT_RATES or rate < MIN_RATE:
            raise BadStreamError(f"malformed stream: sample rate field {rate}")
        if mode & 1 >= len(SCHEDULES):  # one bit: both values are schedules today
            raise BadStreamError(f"malformed stream: unknown synthesis schedule {mode & 1}")
        return cls(rate, channels, mode >> 1, chunk, mode & 1, share, 1, 1)

    def max_records(self, frame_rate: float, max_seconds: float) -> int:
        """How many records a stream of at most `max_seconds` can hold."""
        return int(max_seconds * frame_rate) // self.chunk_frames + 1

    def values(self) -> tuple[int, ...]:
        """The header's fields in order (version 9 packs them: _from_compact)."""
        if self.compact:
            rate = COMPACT_RATES.index(self.rate) if self.rate in COMPACT_RATES else self.rate
            return rate, self.channels, self.stages << 1 | self.schedule, self.share, self.chunk_frames
        return dataclasses.astuple(self)[: self.count(self.version())]

    def describe(self) -> dict[str, int | float | str]:
        """The fields as `info` shows them, the schedule by name; with a partial last stage
        also `stages_option`, the --stages value that writes it (2.25 for 3 stages at 64)."""
        out: dict[str, int | float | str] = {**dataclasses.asdict(self),
                                             "schedule": SCHEDULES[self.schedule]}
        if self.share:
            out["stages_option"] = joined_stages(self.stages, self.share)
        out["gain"] = "per chunk" if self.gain else "none"
        del out["compact"]  # the version says it
        return out
