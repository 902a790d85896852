"""Format version 9, compact speech: a shorter header and range coder tails cut short, around
the same indices, gains and audio as version 7."""

import io
import json
from pathlib import Path

import constriction
import numpy as np
import pytest
import soundfile as sf

from conftest import make_speechlike, run_cli
from vqcodec.codec import container, entropy
from vqcodec.codec.params import AudioParams, COMPACT_RATES
from vqcodec.errors import BadStreamError

GOLDEN = Path(__file__).parent / "golden"
TINY = GOLDEN / "tiny-speech.safetensors"


def test_a_default_speech_file_is_version_9_with_a_14_byte_header(tmp_path):
    sf.write(tmp_path / "a.wav", make_speechlike(1.2, 16000, seed=90), 16000)
    assert run_cli("compress", tmp_path / "a.wav", "--model", TINY, "-o", tmp_path / "a.vqc").returncode == 0
    blob = (tmp_path / "a.vqc").read_bytes()
    info = json.loads(run_cli("info", tmp_path / "a.vqc", "--json").stdout)
    assert (info["version"], info["header_bytes"], info["gain"]) == (9, 14, "per chunk")
    assert blob[:3] == b"VQ\x09" and blob[3:7].hex() == info["model"]
    # rate 16000 is index 1, one channel, 2 stages full context, no share, 50 frames
    assert list(blob[7:12]) == [1, 1, 4, 0, 50]


@pytest.mark.parametrize("params, size", [
    (AudioParams(16000, 1, 2, 50, 0, 64, 1, 1), 14),
    (AudioParams(8000, 2, 3, 10, 1, 0, 1, 1), 14),
    (AudioParams(44100, 1, 1, 50, 0, 0, 1, 1), 14),
    (AudioParams(44056, 1, 2, 50, 1, 255, 1, 1), 17),  # not listed: the rate itself, 3 bytes
    (AudioParams(16000, 64, 40, 3000, 1, 200, 1, 1), 16)])  # share and chunk: 2 bytes each
def test_version_9_headers_round_trip(params, size):
    data = container.Header("speech", b"abcd", params.validate()).to_bytes()
    back = container.read_header(io.BytesIO(data))
    assert data[2] == 9 and len(data) == size == back.size
    assert (back.kind, back.fingerprint, back.params) == ("speech", b"abcd", params)


def _forged_v9(values: list[int]) -> bytes:
    body = b"VQ\x09abcd" + b"".join(container.varint(v) for v in values)
    return body + container.crc16(body).to_bytes(2, "big")


@pytest.mark.parametrize("values, message", [
    ([16000, 1, 4, 0, 50], "sample rate field 16000"),  # a listed rate must go by its index
    ([len(COMPACT_RATES), 1, 4, 0, 50], "sample rate field 9"),
    ([999, 1, 4, 0, 50], "sample rate field 999"),
    ([1, 1, 0, 0, 50], "invalid"),  # no stages
    ([1, 1, 2, 64, 50], "invalid"),  # a partial stage needs a stage before it
    ([1, 1, 4, 256, 50], "invalid")])
def test_a_version_9_header_no_writer_makes_is_malformed(values, message):
    with pytest.raises(BadStreamError, match=message):  # as every reader checks it
        container.read_header(io.BytesIO(_forged_v9(values))).params.validate()


def test_the_compact_layout_always_carries_gains():
    with pytest.raises(BadStreamError, match="invalid"):
        AudioParams(16000, 1, 2, 50, 0, 0, 0, 1).validate()


def test_a_version_9_header_shows_its_fields_by_name_when_they_are_invalid():
    with pytest.raises(BadStreamError, match=r"\(rate 16000, channels 0, stages 2, chunk_frames 50, "
                                             r"schedule 0, share 0, gain 1\) are invalid"):
        container.read_header(io.BytesIO(_forged_v9([1, 0, 4, 0, 50]))).params.validate()


def _random_streams(n: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        count, k = int(rng.integers(0, 120)), int(rng.integers(2, 300))
        weights = np.floor((rng.random((count, k)) ** 3 * 100 + 1e-3) * 1000) + 1
        symbols = rng.integers(0, k, count).astype(np.int32)
        coder = constriction.stream.queue.RangeEncoder()
        if count:
            coder.encode(symbols, entropy.FAMILY, weights)
        yield coder, symbols, weights


def test_cut_short_streams_decode_to_the_same_symbols_and_are_shorter():
    saved, n = 0, 0
    for coder, symbols, weights in _random_streams(3000, seed=7):
        plain = entropy.to_bytes(coder.get_compressed())
        short = entropy.sealed(coder)
        decoder = constriction.stream.queue.RangeDecoder(entropy.to_words(short, entropy.COMPACT))
        assert np.array_equal(decoder.decode(entropy.FAMILY, weights), symbols)
        assert len(short) <= len(plain) + 3  # never longer, but for the last word's byte order
        saved += len(plain) - len(short)
        n += 1
    assert saved / n > 1.2  # about 1.6 bytes a stream


def test_the_shortest_tail_keeps_to_the_final_interval():
    # the interval's first word is 0x12345679; anything up to 0x12350000 is inside
    lower, size = 0x12345678_9ABCDEF0, 0xB987_6543_2110
    assert entropy.shortest_tail(0x12345679, lower, size) == 0x12350000
    # a narrow interval leaves no choice
    assert entropy.shortest_tail(0x12345679, lower, 1 << 32) == 0x12345679
    # a sealing word that is not the interval's first (a carry) is left alone
    assert entropy.shortest_tail(0x00000001, 0xFFFFFFFF_00000001, 1 << 40) == 0x00000001


def test_versions_7_and_9_of_the_same_clip_decode_to_the_same_audio(tmp_path):
    """speech-level.vqc was written as version 7 by vqcodec before version 9, speech-compact.vqc
    from the same clip and options today: fewer bytes, the same output."""
    old, new = GOLDEN / "speech-level.vqc", GOLDEN / "speech-compact.vqc"
    assert (old.read_bytes()[2], new.read_bytes()[2]) == (7, 9)
    assert new.stat().st_size < old.stat().st_size
    for src in (old, new):
        r = run_cli("decompress", src, "--model", TINY, "-o", tmp_path / f"{src.stem}.wav")
        assert r.returncode == 0, r.stderr
    a, _ = sf.read(tmp_path / "speech-level.wav", dtype="int16")
    b, _ = sf.read(tmp_path / "speech-compact.wav", dtype="int16")
    assert len(a) == len(b) > 0 and np.array_equal(a, b)


def test_a_live_stream_in_the_compact_layout_decodes_through_a_pipe():
    x = make_speechlike(1.1, 16000, seed=91)
    pcm = (x * 32767).astype("<i2").tobytes()
    enc = run_cli("compress", "--stream", "--raw", "--rate", "16000", "--model", TINY, "-", input=pcm)
    assert enc.returncode == 0 and enc.stdout[2] == 9
    dec = run_cli("decompress", "-", "--raw", "--model", TINY, input=enc.stdout)
    assert dec.returncode == 0 and len(dec.stdout) == len(pcm)
