"""Speech benchmark: our codec against Codec2 and Opus on the same clips.

Rates are real file sizes over the clip's duration (headers included). Quality is PESQ
narrowband (8 kHz), PESQ wideband (16 kHz) and STOI, computed after removing each codec's fixed
delay: per clip, log-spectrogram cross-correlation within +-50 ms estimates the delay (waveform
correlation fails on vocoders, whose phase is synthetic); each codec's clips are then aligned by
the median of its estimates. Speed is the real-time factor: audio seconds per processing second.
The codecs run one clip at a time (their timings stay honest); the metrics, which take most of
a run, are computed in `jobs` processes.
"""

from __future__ import annotations

import io
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

import numpy as np

from ..codec.params import check_kbps
from ..errors import BadInputError, UsageError
from ..media import AUDIO_SUFFIXES
from .speech_metrics import align, estimate_delay, pesq_score, stoi_score

CODEC2_MODES = ("3200", "1600", "1300", "1200", "700C")
OPUS_KBPS = 6
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Decoded:
    """One codec's output for one clip."""

    audio: np.ndarray  # (n,) float32 mono
    rate: int
    bytes: int
    encode_s: float
    decode_s: float
    codes: str = ""  # ours: the model's code set the stream used (models/codesets.py)


@dataclass
class SpeechRow:
    """One codec on one clip."""

    clip: str
    codec: str
    seconds: float
    bytes: int
    kbps: float
    pesq_nb: float | None
    pesq_wb: float | None
    stoi: float | None
    delay_ms: float  # this clip's own estimate; alignment used the codec's median
    encode_rtf: float
    decode_rtf: float
    codes: str = ""  # ours: the code set the stream used; peers: ""


@dataclass
class SpeechEval:
    """The whole run: a row per clip and codec, the fixed delay removed per codec, timings."""

    model: str
    model_load_s: float
    stages: list[float]
    codecs: list[str]
    rows: list[SpeechRow]
    delays_ms: dict[str, float] = field(default_factory=dict)

    def averages(self) -> list[dict]:
        """Per codec: means over clips (None values left out and counted), pooled RTFs."""
        out = []
        for codec in self.codecs:
            rows = [r for r in self.rows if r.codec == codec]
            if not rows:
                continue
            avg: dict = {"codec": codec, "clips": len(rows)}
            avg["kbps"] = float(np.mean([r.kbps for r in rows]))
            avg["kbps_pooled"] = sum(r.bytes for r in rows) * 8 / sum(r.seconds for r in rows) / 1000
            for key in ("pesq_nb", "pesq_wb", "stoi"):
                vals = [getattr(r, key) for r in rows if getattr(r, key) is not None]
                avg[key] = float(np.mean(vals)) if vals else None
                avg[f"{key}_missing"] = len(rows) - len(vals)
            audio = sum(r.seconds for r in rows)
            avg["encode_rtf"] = audio / sum(r.seconds / r.encode_rtf for r in rows)
            avg["decode_rtf"] = audio / sum(r.seconds / r.decode_rtf for r in rows)
            avg["delay_ms"] = self.delays_ms.get(codec, 0.0)
            if any(r.codes for r in rows):  # how many clips each code set coded
                avg["codes"] = {c: sum(r.codes == c for r in rows)
                                for c in sorted({r.codes for r in rows})}
            out.append(avg)
        return out

    def to_dict(self) -> dict:
        return {"model": self.model, "model_load_s": self.model_load_s, "stages": self.stages,
                "codecs": self.codecs, "delays_ms": self.delays_ms,
                "rows": [asdict(r) for r in self.rows], "averages": self.averages()}


# -- inputs -----------------------------------------------------------------------------------
def list_clips(directory: str | Path) -> list[Path]:
    """wav/flac/ogg files under `directory`, recursively, sorted."""
    d = Path(directory)
    if not d.is_dir():
        raise BadInputError(f"{d}: not a directory")
    files = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise BadInputError(f"{d}: no .wav, .flac or .ogg files found")
    return files


def load_mono(path: Path) -> tuple[np.ndarray, int]:
    """A sound file mixed to mono: ((n,) float32, rate)."""
    import soundfile as sf

    try:
        x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise BadInputError(f"{path}: not audio soundfile can read ({exc})") from None
    if not len(x):
        raise BadInputError(f"{path}: no samples")
    return x.mean(axis=1), rate


def resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    import torch
    import torchaudio.functional as AF

    if orig == new:
        return x.astype(np.float32)
    return AF.resample(torch.from_numpy(np.ascontiguousarray(x, np.float32)), orig, new).numpy()


def _pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).round().astype("<i2").tobytes()


# -- codecs -----------------------------------------------------------------------------------
def run_ours(x: np.ndarray, rate: int, model: Path, stages: float | None,
             kbps: float | None = None, codes: str = "auto") -> Decoded:
    """Our codec in-process through the library API, at `stages` or fitting `kbps` (a clip
    where one stage does not fit gets one stage), with the model's code set `codes`
    (models/codesets.py; auto: the one `compress` picks)."""
    from .. import api
    from ..errors import UsageError
    from ..media import AudioInfo

    def code(stages: float | None, kbps: float | None) -> tuple[io.BytesIO, str]:
        out = io.BytesIO()
        report = api.compress_audio_to(iter([x[:, None]]), AudioInfo(rate, 1, len(x)), out,
                                       model, stages, kbps=kbps, codes=codes)
        return out, report.extra["codes"]

    t = time.perf_counter()
    try:
        out, codes = code(stages, kbps)
    except UsageError:  # --kbps below one stage's rate on this clip
        out, codes = code(1, None)
    enc_s = time.perf_counter() - t
    t = time.perf_counter()
    y, out_rate = api.decompress(out.getvalue(), model)
    dec_s = time.perf_counter() - t
    return Decoded(y.mean(axis=1), out_rate, len(out.getvalue()), enc_s, dec_s, codes)


def _timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.decode(errors='replace')[:200]}")
    return time.perf_counter() - t


def run_codec2(x8: np.ndarray, mode: str, tmp: Path) -> Decoded:
    """Codec2 through c2enc/c2dec on 8 kHz s16le; output is 8 kHz."""
    raw, bits, dec = tmp / "c2in.raw", tmp / "c2.bit", tmp / "c2out.raw"
    raw.write_bytes(_pcm16(x8))
    enc_s = _timed(["c2enc", mode, str(raw), str(bits)])
    dec_s = _timed(["c2dec", mode, str(bits), str(dec)])
    y = np.frombuffer(dec.read_bytes(), "<i2").astype(np.float32) / 32768
    return Decoded(y, 8000, bits.stat().st_size, enc_s, dec_s)


def run_opus(x: np.ndarray, rate: int, tmp: Path) -> Decoded:
    """Opus through opusenc/opusdec at OPUS_KBPS; decoded at 16 kHz (opusdec drops the pre-skip)."""
    import soundfile as sf

    wav, enc, dec = tmp / "opin.wav", tmp / "op.opus", tmp / "opout.wav"
    sf.write(str(wav), x, rate, subtype="PCM_16")
    enc_s = _timed(["opusenc", "--bitrate", str(OPUS_KBPS), "--quiet", str(wav), str(enc)])
    dec_s = _timed(["opusdec", "--quiet", "--rate", "16000", str(enc), str(dec)])
    y, out_rate = sf.read(str(dec), dtype="float32", always_2d=True)
    return Decoded(y.mean(axis=1), out_rate, enc.stat().st_size, enc_s, dec_s)


def peer_codecs() -> list[str]:
    """The classic codecs whose command-line tools are on PATH."""
    names = []
    if shutil.which("c2enc") and shutil.which("c2dec"):
        names += [f"Codec2 {m}" for m in CODEC2_MODES]
    if shutil.which("opusenc") and shutil.which("opusdec"):
        names.append(f"Opus {OPUS_KBPS}k")
    return names


def ours_name(stages: float) -> str:
    return f"vqcodec {stages:g}st"


DEFAULT_NAME = "vqcodec default"  # each clip at its code set's default stage count


def kbps_name(kbps: float) -> str:
    return f"vqcodec <={kbps:g}k"


Runner = Callable[[np.ndarray, int, np.ndarray, Path], Decoded]  # (x, rate, x at 8 kHz, tmp)


def _runners(model: Path, stages: list[float], peers: bool,
             kbps: list[float] = (), codes: str = "auto", default: bool = False) -> dict[str, Runner]:
    """Codec name -> how to run it on one clip (with `default`, also DEFAULT_NAME)."""
    runners: dict[str, Runner] = {}
    if default:
        runners[DEFAULT_NAME] = lambda x, rate, x8, tmp: run_ours(x, rate, model, None, codes=codes)
    for s in stages:
        runners[ours_name(s)] = lambda x, rate, x8, tmp, s=s: run_ours(x, rate, model, s,
                                                                       codes=codes)
    for k in kbps:
        runners[kbps_name(k)] = lambda x, rate, x8, tmp, k=k: run_ours(x, rate, model, None, k,
                                                                       codes)
    if not peers:
        return runners
    for name in peer_codecs():
        if name.startswith("Codec2"):
            mode = name.split()[1]
            runners[name] = lambda x, rate, x8, tmp, mode=mode: run_codec2(x8, mode, tmp)
        else:
            runners[name] = lambda x, rate, x8, tmp: run_opus(x, rate, tmp)
    return runners


def quality(ref16: np.ndarray, ref8: np.ndarray, out: Decoded, delay: int) -> dict:
    """PESQ-nb, PESQ-wb and STOI of an output against the reference, `delay` removed.

    An 8 kHz output (Codec2) gets PESQ-nb and STOI at 8 kHz and no PESQ-wb; anything else is
    measured at 16 kHz and, for PESQ-nb, resampled to 8 kHz after alignment.
    """
    if out.rate == 8000:
        r8, d8 = align(ref8, out.audio, delay)
        return {"pesq_nb": pesq_score(8000, r8, d8), "pesq_wb": None,
                "stoi": stoi_score(r8, d8, 8000)}
    r16, d16 = align(ref16, resample(out.audio, out.rate, 16000), delay)
    return {"pesq_nb": pesq_score(8000, resample(r16, 16000, 8000), resample(d16, 16000, 8000)),
            "pesq_wb": pesq_score(16000, r16, d16), "stoi": stoi_score(r16, d16, 16000)}


def _metric_rate(out: Decoded) -> int:
    return 8000 if out.rate == 8000 else 16000


def _clip_delays(item: tuple) -> dict[str, int]:
    """Each codec's delay on one clip (ref16, ref8, {codec: Decoded}), in samples."""
    ref16, ref8, outs = item
    delays = {}
    for codec, out in outs.items():
        mr = _metric_rate(out)
        delays[codec] = estimate_delay(ref8 if mr == 8000 else ref16,
                                       resample(out.audio, out.rate, mr), mr)
    return delays


def _clip_quality(item: tuple) -> dict[str, dict]:
    """Each codec's scores on one clip (ref16, ref8, {codec: Decoded}, {codec: fixed delay})."""
    ref16, ref8, outs, fixed = item
    return {codec: quality(ref16, ref8, out, fixed[codec]) for codec, out in outs.items()}


def _map(fn: Callable[[T], R], items: Sequence[T], jobs: int) -> Iterator[R]:
    """fn over items, in order: in `jobs` processes when more than one (the metrics are pure
    functions of their inputs, so the results do not depend on `jobs`). The processes are
    spawned, not forked: this process has run torch's OpenMP pool (resampling), and a forked
    child that uses torch then can wait forever on a lock the fork copied (it did once,
    eleventh session)."""
    if jobs <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(jobs, len(items)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(fn, items, chunksize=4)


# -- the benchmark ----------------------------------------------------------------------------
def evaluate_speech(directory: str | Path, model: str | Path | None = None,
                    stages: list[float] | None = None, peers: bool = True,
                    progress: Callable[[str], None] | None = None, jobs: int = 1,
                    kbps: list[float] | None = None, codes: str = "auto") -> SpeechEval:
    """Run our codec (per number of stages, and fitting each of `kbps` per clip: `compress
    --kbps`; with the model's code set `codes`, auto as `compress` picks) and the peers over
    every clip under `directory`; the metrics in `jobs` processes. A model whose code sets
    have different default stage counts is also run as `compress` runs it without --stages
    (DEFAULT_NAME)."""
    from .. import api
    from ..models.modelfile import BUNDLED, resolve

    files = list_clips(directory)
    path = resolve(model or BUNDLED["speech"])
    t = time.perf_counter()
    m = api.get_model(path, "speech")
    load_s = time.perf_counter() - t
    stage_list = sorted(set(stages or [*range(1, m.config.stages + 1), m.config.default_stages]))
    bad = [s for s in stage_list if not 1 <= s <= m.config.stages]
    if bad:
        raise UsageError(f"--stages {bad[0]}: model {m.name} has 1..{m.config.stages} stages")
    from ..models.codesets import pick

    pick(m, codes)  # UsageError: no such set
    run_ours(np.zeros(1600, np.float32), 16000, path, stage_list[0])  # warm-up, not timed
    for k in kbps or []:
        check_kbps(k)
    # a model whose code sets code different stage counts by default: what compress does
    default = codes == "auto" and len({c.config.default_stages for c in m.code_sets}) > 1
    runners = _runners(path, stage_list, peers, sorted(set(kbps or [])), codes, default)
    codecs = list(runners)

    clips = []  # (name, seconds, ref16, ref8, {codec: Decoded})
    with tempfile.TemporaryDirectory(prefix="vqcodec-eval-") as tmpdir:
        tmp = Path(tmpdir)
        for i, f in enumerate(files):
            if progress:
                progress(f"[{i + 1}/{len(files)}] {f.name}")
            x, rate = load_mono(f)
            ref16, ref8 = resample(x, rate, 16000), resample(x, rate, 8000)
            outs = {codec: run(x, rate, ref8, tmp) for codec, run in runners.items()}
            clips.append((str(f.relative_to(directory)), len(x) / rate, ref16, ref8, outs))

    # Each codec's delay is fixed: estimate it on every clip, remove the median.
    est: dict[str, list[int]] = {c: [] for c in codecs}
    for delays in _map(_clip_delays, [(ref16, ref8, outs) for _, _, ref16, ref8, outs in clips], jobs):
        for codec, d in delays.items():
            est[codec].append(d)
    fixed = {c: int(round(statistics.median(v))) for c, v in est.items()}
    rate_of = {c: _metric_rate(clips[0][4][c]) for c in codecs}

    rows = []
    scored = _map(_clip_quality, [(ref16, ref8, outs, fixed) for _, _, ref16, ref8, outs in clips], jobs)
    for k, ((name, seconds, _, _, outs), scores) in enumerate(zip(clips, scored)):
        if progress:
            progress(f"metrics [{k + 1}/{len(clips)}] {name}")
        for codec, out in outs.items():
            q = scores[codec]
            rows.append(SpeechRow(name, codec, seconds, out.bytes, out.bytes * 8 / seconds / 1000,
                                  q["pesq_nb"], q["pesq_wb"], q["stoi"],
                                  1000 * est[codec][k] / rate_of[codec],
                                  seconds / out.encode_s, seconds / out.decode_s, out.codes))
    delays_ms = {c: 1000 * fixed[c] / rate_of[c] for c in codecs}
    return SpeechEval(m.name, load_s, stage_list, codecs, rows, delays_ms)


def plot_quality(result: SpeechEval, out: str | Path) -> None:
    """PESQ-nb and STOI against bitrate: each codec's clips (dots) and its mean (big marker)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    avgs = result.averages()
    ours = [a["codec"] for a in avgs if a["codec"].startswith("vqcodec") and a["codec"] != DEFAULT_NAME]
    peers = [a["codec"] for a in avgs if a["codec"] not in ours and a["codec"] != DEFAULT_NAME]
    colours = {c: plt.get_cmap("Reds")(0.45 + 0.55 * i / max(1, len(ours) - 1))
               for i, c in enumerate(ours)}  # our rates: shades of red, light to dark
    colours[DEFAULT_NAME] = "gold"  # each clip at its code set's default: stands apart
    other = ["C0", "C1", "C2", "C4", "C7", "C8", "C9"]  # tab10 without its reds, pink, brown
    colours.update({c: other[i % len(other)] for i, c in enumerate(peers)})
    for key, ax, label in ((
            "pesq_nb", axes[0], "PESQ narrowband (MOS-LQO)"), ("stoi", axes[1], "STOI")):
        for a in avgs:
            color = colours[a["codec"]]
            pts = [(r.kbps, getattr(r, key)) for r in result.rows
                   if r.codec == a["codec"] and getattr(r, key) is not None]
            if pts:
                ax.scatter(*zip(*pts), s=8, alpha=0.3, color=color)
            if a[key] is not None:
                marker = "*" if a["codec"].startswith("vqcodec") else "o"
                ax.scatter(a["kbps"], a[key], s=160 if marker == "*" else 60, marker=marker,
                           color=color, edgecolor="black", label=a["codec"],
                           zorder=4 if a["codec"] == DEFAULT_NAME else 3)  # on top of its stage count's
        ax.set_xscale("log")
        ax.set_xlabel("kbit/s (real file size, log scale)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    n = len({r.clip for r in result.rows})
    fig.suptitle(f"Speech quality vs bitrate, {n} clips (dots: clips, markers: means)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
