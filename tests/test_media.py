"""Media pieces on their own: streaming resampler, WAV and raw streams, atomic outputs, and the
speech encoder/decoder streams fed in blocks."""

import io
import os

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, make_speechlike
from vqcodec.errors import BadInputError, OutputError
from vqcodec.files import atomic_output
from vqcodec.media import Resampler, raw_blocks, wav_stream

TINY_SPEECH = ROOT / "tests" / "golden" / "tiny-speech.safetensors"


@pytest.mark.parametrize("orig, new", [(22050, 16000), (16000, 8000), (8000, 16000)])
def test_resampler_block_wise_equals_whole(orig, new):
    x = make_speechlike(0.7, orig, seed=1)[:, None]
    whole = Resampler(orig, new)
    want = np.concatenate([whole.push(x), whole.finish()])
    blocks = Resampler(orig, new)
    parts = [blocks.push(x[i: i + 777]) for i in range(0, len(x), 777)] + [blocks.finish()]
    got = np.concatenate(parts)
    assert got.shape == want.shape
    assert np.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("orig, new", [(16000, 8000), (16000, 44100), (16000, 11025)])
def test_resampler_push_ahead_gives_out_everything_now_and_nothing_twice(orig, new):
    x = make_speechlike(0.7, orig, seed=2)[:, None]
    whole = Resampler(orig, new)
    want = np.concatenate([whole.push(x), whole.finish()])
    r, parts, fed = Resampler(orig, new), [], 0
    for i in range(0, len(x), 3200):
        block = x[i: i + 3200]
        parts.append(r.push_ahead(block, x[i + 3200: i + 3840]))  # the true continuation
        fed += len(block)
        assert sum(map(len, parts)) == -(-fed * new // orig)  # nothing held back
    got = np.concatenate(parts + [r.finish()])
    assert got.shape == want.shape
    assert np.allclose(got, want, atol=1e-5)


def test_raw_blocks_keep_partial_frames_for_the_next_read():
    pcm = (np.arange(-50, 50, dtype="<i2").reshape(-1, 2)).tobytes()

    class Dribble(io.RawIOBase):
        def __init__(self, data):
            self.data = data

        def readable(self):
            return True

        def readinto(self, b):
            n = min(3, len(b), len(self.data))  # odd sizes split samples and frames
            b[:n], self.data = self.data[:n], self.data[n:]
            return n

    got = np.concatenate(list(raw_blocks(io.BufferedReader(Dribble(pcm), 3), 2, block_bytes=3)))
    assert np.array_equal(np.round(got * 32768).astype(int), np.arange(-50, 50).reshape(-1, 2))
    with pytest.raises(BadInputError, match="partial sample"):
        list(raw_blocks(io.BytesIO(pcm[:-1]), 2))


def test_wav_stream_reads_a_pipe_wav_of_unknown_length():
    x = make_speechlike(0.3, 16000, seed=2)
    buf = io.BytesIO()
    sf.write(buf, x, 16000, format="WAV", subtype="PCM_16")
    data = bytearray(buf.getvalue())
    data[4:8] = data[40:44] = b"\xff\xff\xff\xff"  # sizes unknown, as sox writes to pipes
    info, blocks = wav_stream(io.BytesIO(bytes(data)))
    assert (info.rate, info.channels) == (16000, 1)
    assert len(np.concatenate(list(blocks))) == len(x)
    assert isinstance(wav_stream(io.BytesIO(b"fLaC" + b"\0" * 20)), bytes)  # not a WAV: handed back


def test_atomic_output_leaves_nothing_on_failure_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as f:
            f.write(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as f:
        f.write(b"whole")
    assert target.read_bytes() == b"whole"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(OutputError, match="already exists"):
        with atomic_output(target):
            pass


def test_speech_streams_fed_in_blocks_match_one_call():
    from vqcodec import api
    from vqcodec.codec import container
    from vqcodec.codec.speech import SpeechDecoderStream, SpeechEncoderStream

    model = api.get_model(str(TINY_SPEECH), "speech")
    x = make_speechlike(2.2, 16000, seed=3)[:, None]
    one = SpeechEncoderStream(model, 16000, 1, chunk_frames=25)
    whole = one.push(x) + one.finish()  # the header comes with the first records
    many = SpeechEncoderStream(model, 16000, 1, chunk_frames=25)
    pieces = [many.push(x[i: i + 1000]) for i in range(0, len(x), 1000)]
    assert b"".join(pieces + [many.finish()]) == whole
    f = io.BytesIO(whole)
    header = container.read_header(f)
    dec = SpeechDecoderStream(model, header)
    out = [dec.push([rec]) for rec in container.audio_records(f, header.params, dec.max_records)]
    assert len(np.concatenate(out)) == len(x)
