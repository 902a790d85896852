"""The low-latency synthesis schedule: a --stream stream decodes to the same samples however its
bytes arrive, each chunk comes out as soon as its record does, and full-context streams (files,
and every stream written before the schedule existed) are unchanged."""

import io
import json
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, make_speechlike, run_cli
from vqcodec.codec import container
from vqcodec.codec.params import FULL_CONTEXT, LOW_LATENCY, AudioParams
from vqcodec.errors import BadStreamError
from vqcodec.media import to_pcm16

GOLDEN = ROOT / "tests" / "golden"
# raw PCM of tests/golden/speech.vqc decoded to a file and through a pipe, one thread. First
# pinned as sha256 (commit 2ea9e71, before the low-latency schedule existed; again when the
# GELU became a table, ninth session: 8 of the 20,800 samples moved by one step); kept as the
# samples themselves since the eleventh session, because the decoder networks run in float and
# another CPU's BLAS kernels sum in another order (on an AVX-512 machine the file's samples
# differ from the AVX2 machine's by at most one step). Written by the code of commit dc2c76c.
BEFORE = {"file": GOLDEN / "speech-file.raw", "pipe": GOLDEN / "speech-pipe.raw"}
BEFORE_STEPS = 2  # the most a sample may move across CPUs, in 16-bit steps


def pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def _compress(speech_model, x, rate, *flags) -> bytes:
    r = run_cli("compress", "--raw", "--rate", str(rate), "--model", speech_model, *flags, "-",
                input=pcm16(x))
    assert r.returncode == 0, r.stderr
    return r.stdout


def _info(tmp_path, blob: bytes) -> dict:
    (tmp_path / "s.vqc").write_bytes(blob)
    return json.loads(run_cli("info", tmp_path / "s.vqc", "--json").stdout)


def _decode_in_process(speech_model, blob: bytes, batch: int) -> np.ndarray:
    from vqcodec import api
    from vqcodec.codec.speech import SpeechDecoderStream

    f = io.BytesIO(blob)
    header = container.read_header(f)
    dec = SpeechDecoderStream(api.get_model(str(speech_model), "speech"), header)
    recs = list(container.audio_records(f, header.params, dec.max_records))
    return np.concatenate([dec.push(recs[i: i + batch]) for i in range(0, len(recs), batch)])


def test_a_low_latency_stream_decodes_to_the_same_samples_however_its_bytes_arrive(speech_model, tmp_path):
    blob = _compress(speech_model, make_speechlike(2.3, 8000, seed=11), 8000, "--stream")
    one, all_at_once = _decode_in_process(speech_model, blob, 1), _decode_in_process(speech_model, blob, 16)
    assert one.shape == all_at_once.shape and np.array_equal(one, all_at_once)
    (tmp_path / "s.vqc").write_bytes(blob)
    r = run_cli("decompress", tmp_path / "s.vqc", "--model", speech_model, "--raw", "-o", tmp_path / "f.raw")
    assert r.returncode == 0, r.stderr
    from_file = (tmp_path / "f.raw").read_bytes()
    assert from_file == to_pcm16(one)
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "decompress", "--raw", "--model",
                             str(speech_model), "-"], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    for i in range(0, len(blob), 7):  # a pipe that delivers a few bytes at a time
        proc.stdin.write(blob[i: i + 7])
        proc.stdin.flush()
        time.sleep(0.002)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out == from_file


@pytest.mark.parametrize("rate", [16000, 8000])
def test_each_chunk_comes_out_when_its_record_arrives(speech_model, rate):
    """Nothing is held back for the next chunk: not the synthesis' right context, not the
    output resampler's margin."""
    from vqcodec import api
    from vqcodec.codec.speech import SpeechDecoderStream

    blob = _compress(speech_model, make_speechlike(1.5, rate, seed=12), rate, "--stream")
    f = io.BytesIO(blob)
    header = container.read_header(f)
    dec = SpeechDecoderStream(api.get_model(str(speech_model), "speech"), header)
    out = 0
    for i, rec in enumerate(container.audio_records(f, header.params, dec.max_records)):
        out += len(dec.push([rec]))
        if not rec.last:
            assert out == (i + 1) * header.params.chunk_frames * 320 * rate // 16000
    assert out == 1.5 * rate


def test_the_schedule_is_in_the_header_and_info_shows_it(speech_model, tmp_path):
    x = make_speechlike(1.0, 16000, seed=13)
    cases = [(["--stream"], 9, "low-latency"), (["--stream", "--full-context"], 9, "full-context"),
             ([], 9, "full-context"), (["--low-latency"], 9, "low-latency"),
             (["--stream", "--no-level-control"], 3, "low-latency"),
             (["--no-level-control"], 1, "full-context")]
    for flags, version, schedule in cases:
        info = _info(tmp_path, _compress(speech_model, x, 16000, *flags))
        assert (info["version"], info["schedule"]) == (version, schedule), flags


def test_full_context_headers_are_the_version_1_bytes_earlier_vqcodec_wrote():
    old = container.Header("speech", b"abcd", AudioParams(16000, 1, 2, 50)).to_bytes()
    assert old[2] == 1 and old.hex() == "5651010161626364807d0102328833"
    new = container.Header("speech", b"abcd", AudioParams(16000, 1, 2, 10, LOW_LATENCY)).to_bytes()
    back = container.read_header(io.BytesIO(new))
    assert new[2] == 3 and back.params == AudioParams(16000, 1, 2, 10, LOW_LATENCY)
    assert container.read_header(io.BytesIO(old)).params.schedule == FULL_CONTEXT


def test_an_unknown_schedule_is_a_malformed_stream():
    with pytest.raises(BadStreamError, match="malformed"):
        AudioParams(16000, 1, 2, 10, 7).validate()


def test_the_formats_chunk_ends_are_the_constants_format_md_names():
    from vqcodec.codec.speech import LOW_LATENCY_ENDS, SYN_RIGHT, XFADE, ChunkEnds

    assert LOW_LATENCY_ENDS == ChunkEnds("edge", SYN_RIGHT, XFADE)
    assert ChunkEnds("zero").pad == "zero"
    with pytest.raises(ValueError, match="edge, zero"):
        ChunkEnds("mirror")


def test_info_refuses_a_stream_whose_schedule_is_unknown(speech_model, tmp_path):
    blob = _compress(speech_model, make_speechlike(0.5, 16000, seed=14), 16000, "--stream")
    f = io.BytesIO(blob)
    header = container.read_header(f)
    p = header.params
    body = container.FIXED.pack(container.MAGIC, 3, 1, header.fingerprint)
    body += b"".join(container.varint(v) for v in (p.rate, p.channels, p.stages, p.chunk_frames, 5))
    (tmp_path / "s.vqc").write_bytes(body + struct.pack(">H", container.crc16(body)) + f.read())
    r = run_cli("info", tmp_path / "s.vqc")
    assert r.returncode == 2 and r.stdout == b""
    assert r.stderr == b"vqcodec: error: malformed stream: unknown synthesis schedule 5\n"


@pytest.mark.parametrize("rate", [None, 8000])
def test_full_context_streams_take_the_full_context_schedule(tmp_path, monkeypatch, rate):
    """Unpinned half of the check below: an old stream never reaches the low-latency code,
    not its per-chunk synthesis and not the resampler's early output."""
    from vqcodec.codec.speech import SpeechDecoderStream
    from vqcodec.media import Resampler

    def never(*args, **kwargs):
        raise AssertionError("a full-context stream took the low-latency path")

    monkeypatch.setattr(Resampler, "push_ahead", never)
    monkeypatch.setattr(SpeechDecoderStream, "_synthesize_chunks", never)
    with open(GOLDEN / "speech.vqc", "rb") as f:
        assert container.read_header(f).params.schedule == FULL_CONTEXT
    model = GOLDEN / "tiny-speech.safetensors"
    flags = ["--rate", str(rate)] if rate else []
    r = run_cli("decompress", GOLDEN / "speech.vqc", "--model", model, "--raw", *flags,
                "-o", tmp_path / "f.raw")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f.raw").stat().st_size == 2 * 20800 * (rate or 16000) // 16000
    r = run_cli("decompress", "--model", model, "--raw", *flags, "-",
                input=(GOLDEN / "speech.vqc").read_bytes())
    assert r.returncode == 0, r.stderr  # a pipe batches records differently: same length, not bytes
    assert len(r.stdout) == (tmp_path / "f.raw").stat().st_size


def _close_to(got: bytes, ref) -> None:
    a, b = np.frombuffer(got, "<i2").astype(int), np.fromfile(ref, "<i2").astype(int)
    assert len(a) == len(b) and np.abs(a - b).max() <= BEFORE_STEPS


def test_full_context_streams_decode_as_before(tmp_path):
    """Old (version 1) streams decode to the samples they decoded to before the low-latency
    schedule, the level control and the postfilter existed, within float rounding across CPUs."""
    model = GOLDEN / "tiny-speech.safetensors"
    r = run_cli("decompress", GOLDEN / "speech.vqc", "--model", model, "--raw", "-o", tmp_path / "f.raw",
                "--threads", "1", "--no-postfilter")
    assert r.returncode == 0, r.stderr
    _close_to((tmp_path / "f.raw").read_bytes(), BEFORE["file"])
    r = run_cli("decompress", "--model", model, "--raw", "-", "--threads", "1", "--no-postfilter",
                input=(GOLDEN / "speech.vqc").read_bytes())
    _close_to(r.stdout, BEFORE["pipe"])


def test_the_postfilter_is_all_that_changed_in_old_streams(tmp_path):
    """By default the same samples come out through the pitch postfilter, however the records
    arrive (a file decodes in batches of 16 records, a pipe one by one)."""
    from vqcodec.codec.postfilter import PitchPostfilter

    model = GOLDEN / "tiny-speech.safetensors"
    r = run_cli("decompress", GOLDEN / "speech.vqc", "--model", model, "--raw", "-o", tmp_path / "f.raw",
                "--threads", "1")
    assert r.returncode == 0, r.stderr
    pipe = run_cli("decompress", "--model", model, "--raw", "-", "--threads", "1",
                   input=(GOLDEN / "speech.vqc").read_bytes())
    for got, ref in (((tmp_path / "f.raw").read_bytes(), BEFORE["file"]), (pipe.stdout, BEFORE["pipe"])):
        pf = PitchPostfilter()
        before = np.fromfile(ref, "<i2").astype(np.float32) / 32768
        filtered = np.concatenate([pf.push(before), pf.finish()])
        assert np.abs(filtered - before).max() > 0.01  # the filter does something here
        a = np.frombuffer(got, "<i2").astype(int)
        # the reference went through 16 bits before filtering: one step more
        assert len(a) == len(filtered) and np.abs(a - np.round(filtered * 32768)).max() <= BEFORE_STEPS + 1
