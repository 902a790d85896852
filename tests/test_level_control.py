"""Speech level control (format version 7): the encoder scales each record towards the level the
model was trained at and sends the gain; the decoder divides it out."""

import io
import json

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, make_speechlike, run_cli
from vqcodec.codec import container
from vqcodec.codec.params import AudioParams
from vqcodec.codec.speech import GAIN_ZERO, LevelControl, gain_of, speech_level_db
from vqcodec.errors import BadStreamError

GOLDEN = ROOT / "tests" / "golden"
MODEL = GOLDEN / "tiny-speech.safetensors"


def _records(blob: bytes) -> tuple[container.Header, list[container.Record]]:
    f = io.BytesIO(blob)
    header = container.read_header(f)
    return header, list(container.audio_records(f, header.params, 1000))


def _compress(x: np.ndarray, *flags: str) -> bytes:
    from vqcodec import api
    from vqcodec.media import AudioInfo

    out = io.BytesIO()
    api.compress_audio_to(iter([x[:, None].astype(np.float32)]), AudioInfo(16000, 1, len(x)), out,
                          str(MODEL), level_control="--no-level-control" not in flags)
    return out.getvalue()


def _decode(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    from vqcodec import api
    from vqcodec.codec.speech import SpeechDecoderStream

    wave = api.decompress(blob, str(MODEL))[0][:, 0]
    header, records = _records(blob)
    dec = SpeechDecoderStream(api.get_model(str(MODEL), "speech"), header)
    idx = np.concatenate([dec.indices([r])[0] for r in records])
    return wave, idx


def test_a_quiet_recording_codes_as_the_loud_one_and_comes_back_at_its_own_level():
    """The same speech 20 dB down: every gain byte 40 steps (20 dB) higher, the same indices,
    and the decoded waveform the loud one's, 20 dB down (to float rounding)."""
    x = make_speechlike(2.5, 16000, seed=21) * 0.5
    loud, quiet = _compress(x), _compress(x * np.float32(0.1))
    gains_loud = [r.payload[0] for r in _records(loud)[1]]
    gains_quiet = [r.payload[0] for r in _records(quiet)[1]]
    assert len(gains_loud) == 3 and [q - g for q, g in zip(gains_quiet, gains_loud)] == [40] * 3
    (y_loud, i_loud), (y_quiet, i_quiet) = _decode(loud), _decode(quiet)
    assert np.array_equal(i_loud, i_quiet)
    assert np.abs(y_quiet - 0.1 * y_loud).max() < 1e-5 and np.abs(y_loud).max() > 0.01


def test_without_level_control_a_quiet_recording_codes_differently():
    """What the level control is for: the encoder sees quiet audio as other speech."""
    x = make_speechlike(2.5, 16000, seed=21) * 0.5
    i_loud = _decode(_compress(x, "--no-level-control"))[1]
    i_quiet = _decode(_compress(x * np.float32(0.01), "--no-level-control"))[1]
    assert (i_loud != i_quiet).mean() > 0.2


def test_the_gain_byte_is_what_the_level_control_chose_and_info_shows_the_version(tmp_path):
    x = make_speechlike(1.0, 16000, seed=22) * 0.05
    blob = _compress(x)
    header, records = _records(blob)
    assert header.version == 9 and header.params.gain == 1 and len(records) == 1
    want = LevelControl().next(np.pad(x, (0, -len(x) % 320)).astype(np.float32), 320, 1.0)
    assert records[0].payload[0] == want
    assert abs((want - GAIN_ZERO) * 0.5 - (-15 - speech_level_db(x, 320))) <= 0.25
    (tmp_path / "a.vqc").write_bytes(blob)
    info = json.loads(run_cli("info", tmp_path / "a.vqc", "--json").stdout)
    assert (info["version"], info["gain"]) == (9, "per chunk")
    assert _records(_compress(x, "--no-level-control"))[0].version == 1


def test_level_control_holds_falls_at_once_and_rises_slowly():
    tone = np.sin(np.arange(16000) / 5).astype(np.float32)

    def at(db: float) -> np.ndarray:
        return tone * np.float32(10 ** (db / 20) * np.sqrt(2))  # speech level `db` dBFS

    lc = LevelControl()
    assert lc.next(np.zeros(16000, np.float32), 320, 1.0) == GAIN_ZERO  # silence first: 0 dB
    assert lc.next(at(-25), 320, 1.0) == GAIN_ZERO + 20  # the first speech: straight to -15
    assert lc.next(at(-27), 320, 1.0) == GAIN_ZERO + 20  # within 3 dB: held
    assert lc.next(np.zeros(16000, np.float32), 320, 1.0) == GAIN_ZERO + 20  # a pause: held
    assert lc.next(at(-5), 320, 1.0) == GAIN_ZERO - 20  # louder: down at once
    assert lc.next(at(-35), 320, 0.5) == GAIN_ZERO - 20 + 6  # quieter: up 6 dB a second
    assert lc.next(at(-35), 320, 1.0) == GAIN_ZERO - 20 + 18
    assert lc.next(at(-90 + 3), 320, 1.0) == GAIN_ZERO - 20 + 18  # below -65 dBFS: silence
    assert LevelControl().next(at(-60), 320, 1.0) == GAIN_ZERO + 70  # at most +35 dB
    assert LevelControl().next(at(10), 320, 1.0) == GAIN_ZERO - 40  # at least -20 dB
    assert gain_of(GAIN_ZERO + 40) == pytest.approx(10.0)


def test_a_level_change_mid_stream_keeps_the_quiet_part_quiet(tmp_path):
    """Loud then 26 dB quieter: the gains rise between chunks, and decoding undoes them, to a
    file and through a pipe (record by record): the quiet part is not brought up. (The tiny
    model's output level hardly follows its input's: without level control both parts come
    out equally loud, so what lowers the quiet part here is the gains undone.)"""
    x = make_speechlike(4.0, 16000, seed=23) * 0.5
    x[32000:] *= 0.05
    blob = _compress(x)
    gains = [r.payload[0] for r in _records(blob)[1]]
    assert gains[0] < gains[2] < gains[3]  # rising 6 dB a second after the drop
    (tmp_path / "a.vqc").write_bytes(blob)
    r = run_cli("decompress", tmp_path / "a.vqc", "--model", MODEL, "-o", tmp_path / "a.wav")
    assert r.returncode == 0, r.stderr
    p = run_cli("decompress", "--model", MODEL, "--raw", "-", input=blob)
    y_file = sf.read(tmp_path / "a.wav", dtype="int16")[0].astype(float)
    y_pipe = np.frombuffer(p.stdout, "<i2").astype(float)
    for y in (y_file, y_pipe):
        assert len(y) == len(x)
        loud, quiet = np.sqrt(np.mean(y[4000:28000] ** 2)), np.sqrt(np.mean(y[36000:] ** 2))
        assert 0 < quiet < 0.5 * loud


def test_a_version_7_header_needs_its_gain_flag_and_a_record_needs_its_gain_byte(tmp_path):
    with pytest.raises(BadStreamError, match="malformed"):
        AudioParams(16000, 1, 2, 50, 0, 0, 2).validate()
    bad = bytearray(container.Header("speech", b"abcd", AudioParams(16000, 1, 2, 50, 0, 0, 1)).to_bytes())
    assert bad[2] == 7
    header = container.read_header(io.BytesIO(bytes(bad)))
    assert header.params.gain == 1
    blob = _compress(make_speechlike(0.5, 16000, seed=24))
    f = io.BytesIO(blob)
    head = container.read_header(f)
    rec = container.read_record(f)
    broken = blob[: head.size] + container.record_bytes(b"", True, rec.extra)
    (tmp_path / "b.vqc").write_bytes(broken)
    r = run_cli("decompress", tmp_path / "b.vqc", "--model", MODEL, "-o", tmp_path / "b.wav")
    assert r.returncode != 0 and b"has no gain byte" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "b.wav").exists()
    # with --conceal too: the failing records are pushed once, so the error is this one (it
    # had been "data after the last chunk", from pushing them again)
    r = run_cli("decompress", tmp_path / "b.vqc", "--model", MODEL, "--conceal", "-o", tmp_path / "b.wav")
    assert r.returncode != 0 and b"has no gain byte" in r.stderr and len(r.stderr.splitlines()) == 1


def test_level_control_options_are_refused_for_images(tmp_path):
    r = run_cli("compress", ROOT / "samples" / "photo.png", "--no-level-control", "-o", tmp_path / "p.vqc")
    assert r.returncode == 1 and b"--no-level-control applies to speech" in r.stderr
    assert not (tmp_path / "p.vqc").exists()


def test_a_dc_offset_is_removed_before_coding():
    """With level control each record loses its DC offset first: speech whose 1 s records have
    zero mean codes to the same indices and gains with an offset of 0.05 added (but for the
    frames next to the stream's ends, where the silence before and after moves by the offset);
    without level control, to other indices."""
    x = (make_speechlike(3.0, 16000, seed=25) * 0.05).astype(np.float32).reshape(3, 16000)
    x = (x - x.mean(axis=1, keepdims=True)).reshape(-1).astype(np.float32)  # records of 50 frames
    plain, offset = _compress(x), _compress(x + np.float32(0.05))
    assert [r.payload[0] for r in _records(plain)[1]] == [r.payload[0] for r in _records(offset)[1]]
    assert np.array_equal(_decode(plain)[1][4:-4], _decode(offset)[1][4:-4])
    old_plain = _decode(_compress(x, "--no-level-control"))[1]
    old_offset = _decode(_compress(x + np.float32(0.05), "--no-level-control"))[1]
    assert (old_plain == old_offset).mean() < 0.8  # 0.62


def test_only_a_real_offset_is_removed():
    """A mean below DC_MIN is speech's own asymmetry and stays: with it, a clip with digital
    silence after its speech codes exactly as the same clip scaled by the gain without level
    control (removing the mean would move the silence off zero: 10 % of the indices here, and
    16 % more bytes on samples/speech.wav); an offset of 0.004 is removed."""
    from vqcodec.codec.speech import DC_MIN, dc_offset

    speech = (make_speechlike(1.0, 16000, seed=26) * 0.3).astype(np.float32)
    speech = speech - speech.mean() + np.float32(DC_MIN / 2)
    assert dc_offset(speech) == 0 and dc_offset(speech + np.float32(0.004)) == pytest.approx(0.004 + DC_MIN / 2)
    x = np.concatenate([speech, np.zeros(32000, np.float32)])
    blob = _compress(x)
    gains = {r.payload[0] for r in _records(blob)[1]}
    assert len(gains) == 1
    plain = _compress(x * np.float32(gain_of(gains.pop())), "--no-level-control")
    assert np.array_equal(_decode(blob)[1], _decode(plain)[1])


def test_the_level_is_np_quantile_to_the_bit():
    """speech_level_db's percentile is its own (np.quantile imports numpy.ma), and must give
    np.quantile's float64 exactly: the gain bytes of every stream depend on it."""
    from vqcodec.codec.speech import quantile

    rng = np.random.default_rng(27)
    for n in [1, 2, 3, 9, 10, 11, 50, 51, 1000]:
        for x in (rng.random(n), np.round(rng.random(n), 2), rng.random(n) * 1e-7):
            for q in (0.0, 0.1, 0.5, 0.9, 0.95, 1.0):
                assert quantile(x, q) == np.quantile(x, q), (n, q)
    assert np.isnan(quantile(np.array([0.5, np.nan, 0.1]), 0.9))  # as np.quantile


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("x", [[np.inf], [0.5, np.inf], [-np.inf, np.inf], [-0.0], [0.0, -0.0],
                               [2.0, 2.0, 2.0], [1e308, 1.7e308]])
def test_the_level_is_np_quantile_at_the_ends_too(x):
    """One frame, or the top quantile: numpy interpolates the last value with itself (inf
    gives NaN there, -0.0 gives 0.0)."""
    from vqcodec.codec.speech import quantile

    x = np.array(x, dtype=np.float64)
    for q in (0.0, 0.5, 0.9, 1.0):
        want, got = np.quantile(x, q), quantile(x, q)
        assert (np.isnan(want) and np.isnan(got)) or (
            want == got and np.signbit(want) == np.signbit(got)), (q, want, got)
