"""The speech decoder's pitch postfilter (vqcodec.codec.postfilter): it reinforces the pitch
period of voiced sound, leaves periodic sound, noise and silence alone, does not depend on how
the samples arrive, and can be turned off."""

import io

import numpy as np
import pytest

from conftest import ROOT, make_speechlike, run_cli
from vqcodec.codec import postfilter as P
from vqcodec.codec.postfilter import PitchPostfilter

MODEL = ROOT / "tests" / "golden" / "tiny-speech.safetensors"


def _whole(x: np.ndarray) -> np.ndarray:
    pf = PitchPostfilter()
    return np.concatenate([pf.push(x), pf.finish()])


def _harmonic(n: int, period: int, seed: int = 0) -> np.ndarray:
    """A periodic signal: 8 harmonics of 16000 / period Hz with random phases."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return sum(np.cos(2 * np.pi * k * t / period + rng.uniform(0, 2 * np.pi)) / k
               for k in range(1, 9)).astype(np.float32) * 0.1


def test_it_finds_the_pitch_period_not_a_multiple():
    x = _harmonic(16000, 80).astype(np.float64)  # 200 Hz
    buf = np.concatenate([np.zeros(P.HISTORY), x, np.zeros(P.SUB + P.LOOKAHEAD)])
    starts = np.arange(P.HISTORY, P.HISTORY + 16000, P.SUB)
    lag, gain = P.lags_and_gains(buf, starts)
    inner = slice(3, -3)  # away from the silence at both ends
    assert (lag[inner] == 80).all()
    assert np.allclose(gain[inner], P.GAIN, atol=1e-6)  # a perfectly periodic window: c = 1


def test_a_periodic_signal_passes_unchanged_and_noise_between_harmonics_is_lowered():
    clean = _harmonic(32000, 123)
    assert np.abs(_whole(clean) - clean)[800:-800].max() < 1e-5  # unit gain at the harmonics
    noise = np.random.default_rng(1).normal(0, 0.02, len(clean)).astype(np.float32)
    y = _whole(clean + noise)

    def snr(z):
        return 10 * np.log10(np.sum(clean[800:-800] ** 2) / np.sum((z - clean)[800:-800] ** 2))

    assert snr(y) > snr(clean + noise) + 1.5  # measured: +1.8 dB at g = 0.5 and c near 0.9


def test_noise_and_silence_pass_unchanged():
    noise = np.random.default_rng(2).normal(0, 0.1, 16000).astype(np.float32)
    y = _whole(noise)
    assert np.mean(np.abs(y - noise) > 1e-7) < 0.05  # white noise is rarely above the threshold
    silence = np.zeros(5000, np.float32)
    assert (_whole(silence) == 0).all()


def test_nothing_leaks_into_a_pause_or_before_an_onset():
    """A lost chunk (silence between speech) stays exactly silent: the comb's taps reach 20 ms
    into the speech on either side, but their gains follow the subframe's own level."""
    x = make_speechlike(1.0, 16000, seed=5)
    y = _whole(np.concatenate([x, np.zeros(3200, np.float32), x]))
    assert (y[16000:19200] == 0).all()  # an even comb put up to 0.026 there (speech at 0.22)
    assert np.abs(y[:16000] - x).max() > 1e-3 and np.abs(y[19200:] - x).max() > 1e-3


def test_the_output_does_not_depend_on_how_the_samples_arrive():
    x = make_speechlike(2.0, 16000, seed=3)
    whole = _whole(x)
    assert len(whole) == len(x) and np.abs(whole - x).max() > 1e-3
    rng = np.random.default_rng(4)
    pf, parts, i = PitchPostfilter(), [], 0
    while i < len(x):
        k = int(rng.integers(0, 900))
        parts.append(pf.push(x[i: i + k]))
        i += k
    parts.append(pf.finish())
    assert np.array_equal(np.concatenate(parts), whole)


def test_push_ahead_gives_everything_at_once_and_nothing_twice():
    x = make_speechlike(2.0, 16000, seed=5)
    whole = _whole(x)
    pf, parts = PitchPostfilter(), []
    chunks = np.split(x, [3200, 6400, 6500, 12800, 19000])
    for c in chunks[:-1]:
        out = pf.push_ahead(c, np.zeros(400, np.float32))
        parts.append(out)
    parts.append(pf.push(chunks[-1]))
    parts.append(pf.finish())
    got = np.concatenate(parts)
    assert len(got) == len(x)
    assert sum(len(p) for p in parts[:-2]) == sum(len(c) for c in chunks[:-1])  # no hold-back
    # only the samples within the filter's reach of a chunk end were filtered against a guess
    ends = np.cumsum([len(c) for c in chunks[:-1]])
    far = np.ones(len(x), bool)
    for e in ends:
        far[max(0, e - (P.SUB - 1 + P.LOOKAHEAD)): e] = False  # what a subframe's filter reads
    assert np.array_equal(got[far], whole[far])


def test_decompress_can_leave_it_out(tmp_path):
    from vqcodec import api

    x = make_speechlike(1.5, 16000, seed=6)
    blob = api.compress(x, str(MODEL), rate=16000)
    (tmp_path / "s.vqc").write_bytes(blob)
    on, _ = api.decompress(blob, str(MODEL))
    off, _ = api.decompress(blob, str(MODEL), postfilter=False)
    assert on.shape == off.shape and np.abs(on - off).max() > 1e-3
    assert np.allclose(_whole(off[:, 0]), on[:, 0], atol=1e-6)
    for flag, want in (("--no-postfilter", off), ("--postfilter", on)):
        r = run_cli("decompress", tmp_path / "s.vqc", "--model", MODEL, flag, "--raw",
                    "-o", tmp_path / "out.raw", "--threads", "1", "-f")
        assert r.returncode == 0, r.stderr
        pcm = np.frombuffer((tmp_path / "out.raw").read_bytes(), "<i2") / 32768
        assert np.abs(pcm - want[:, 0]).max() <= 1.5 / 32768


@pytest.mark.parametrize("samples", [1, 100, 159, 161, 800])
def test_streams_shorter_than_the_filter_reach_decode_to_their_length(samples):
    from vqcodec import api

    x = make_speechlike(1.0, 16000, seed=7)[:samples]
    for stream in (False, True):
        from vqcodec.media import AudioInfo

        out = io.BytesIO()
        api.compress_audio_to(iter([x[:, None]]), AudioInfo(16000, 1, samples), out, str(MODEL),
                              chunk_frames=10 if stream else 50, low_latency=stream)
        y, rate = api.decompress(out.getvalue(), str(MODEL))
        assert rate == 16000 and y.shape == (samples, 1) and np.isfinite(y).all()


def test_the_postfilter_options_are_refused_for_images(image_model, tmp_path):
    from vqcodec import api
    from vqcodec.errors import UsageError

    img = np.zeros((16, 16, 3), np.uint8)
    img[4:12, 4:12] = (200, 30, 60)
    blob = api.compress(img, str(image_model))
    (tmp_path / "i.vqc").write_bytes(blob)
    r = run_cli("decompress", tmp_path / "i.vqc", "--model", image_model, "--no-postfilter",
                "-o", tmp_path / "i.png")
    assert r.returncode == 1
    assert r.stderr.decode().strip().splitlines() == [
        "vqcodec: error: --raw, --rate, --channels, --conceal and --(no-)postfilter apply to speech; the stream is an image"]
    assert not (tmp_path / "i.png").exists()
    with pytest.raises(UsageError, match="postfilter= applies to speech"):
        api.decompress(blob, str(image_model), postfilter=True)
    assert api.decompress(io.BytesIO(blob).getvalue(), str(image_model)).shape == (16, 16, 3)
