"""The speech codec through the real CLI: pipes, raw PCM, streaming, rates, chunks, bad input."""

import io
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from conftest import OTHER_CPU, ROOT, make_speechlike, run_cli


def pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def test_wav_round_trip_keeps_rate_channels_and_length(speech_model, tmp_path):
    x = make_speechlike(2.3, 22050, seed=1)
    stereo = np.stack([x, 0.5 * x], axis=1)
    sf.write(tmp_path / "in.wav", stereo, 22050)
    assert run_cli("compress", tmp_path / "in.wav", "--model", speech_model).returncode == 0
    r = run_cli("decompress", tmp_path / "in.wav.vqc", "--model", speech_model, "-o", tmp_path / "out.flac")
    assert r.returncode == 0, r.stderr
    y, rate = sf.read(tmp_path / "out.flac")
    assert rate == 22050 and y.shape == stereo.shape
    r = run_cli("decompress", tmp_path / "in.wav.vqc", "--model", speech_model, "-o",
                tmp_path / "o8.wav", "--rate", "8000", "--channels", "1")
    y8, rate8 = sf.read(tmp_path / "o8.wav", always_2d=True)
    assert rate8 == 8000 and y8.shape == (int(np.ceil(len(x) * 8000 / 22050)), 1)


def test_raw_pipeline_through_stdin_and_stdout(speech_model):
    x = make_speechlike(1.7, 8000, seed=2)
    enc = run_cli("compress", "--raw", "--rate", "8000", "--model", speech_model, "-", input=pcm16(x))
    assert enc.returncode == 0, enc.stderr
    assert enc.stdout[:2] == b"VQ"
    dec = run_cli("decompress", "--raw", "--model", speech_model, "-", input=enc.stdout)
    assert dec.returncode == 0, dec.stderr
    assert len(dec.stdout) == 2 * len(x)


def test_stdout_wav_is_a_streamable_wav(speech_model):
    x = make_speechlike(1.0, 16000, seed=3)
    enc = run_cli("compress", "--raw", "--rate", "16000", "--model", speech_model, "-", input=pcm16(x))
    dec = run_cli("decompress", "--model", speech_model, "-", input=enc.stdout)
    assert dec.stdout[:4] == b"RIFF" and dec.stdout[8:12] == b"WAVE"
    assert len(dec.stdout) == 44 + 2 * len(x)


def test_chunk_indices_round_trip_and_decode_on_an_imitated_other_cpu(speech_model, tmp_path):
    x = make_speechlike(3.3, 16000, seed=4)
    sf.write(tmp_path / "c.wav", x, 16000)
    vqc = tmp_path / "c.vqc"
    assert run_cli("compress", tmp_path / "c.wav", "--model", speech_model, "-o", vqc,
                   "--chunk-ms", "500", "--no-level-control").returncode == 0  # the audio as it is
    from vqcodec import api
    from vqcodec.codec.speech import ENC_LEFT

    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    assert run_cli("decompress", vqc, "--model", speech_model, "--indices", a).returncode == 0
    r = run_cli("decompress", vqc, "--model", speech_model, "--indices", b, env=OTHER_CPU)
    assert r.returncode == 0, r.stderr
    got = np.load(a)
    assert np.array_equal(got, np.load(b))
    assert got.shape == (int(np.ceil(len(x) / 320)), 2)
    # the encoder's own indices, chunk by chunk
    import torch

    model = api.get_model(str(speech_model), "speech")
    f = model.config.frame
    padded = np.zeros(len(got) * f + 2 * ENC_LEFT * f, dtype=np.float32)
    padded[ENC_LEFT * f: ENC_LEFT * f + len(x)] = x
    with torch.inference_mode():
        want = model.net.encode(torch.from_numpy(padded)[None], 2)[0].t().numpy()[ENC_LEFT: ENC_LEFT + len(got)]
    assert (got == want).mean() > 0.9  # same indices up to context differences at chunk edges


def test_streaming_emits_chunks_while_the_writer_is_still_writing(speech_model):
    x = make_speechlike(3.0, 16000, seed=6)
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "compress", "--raw", "--rate", "16000",
                             "--stream", "--model", str(speech_model), "-"], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    data = pcm16(x)
    step = 3200 * 2  # 0.2 s of audio at a time
    half = len(data) // 2
    for i in range(0, half, step):
        proc.stdin.write(data[i: min(i + step, half)])
        proc.stdin.flush()
        time.sleep(0.05)
    import os
    import select

    early, deadline = b"", time.time() + 60
    while len(early) <= 20 and time.time() < deadline:  # header plus at least one chunk
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            early += os.read(proc.stdout.fileno(), 1 << 16)
    assert early[:2] == b"VQ" and len(early) > 20, "no chunk was emitted before the input ended"
    proc.stdin.write(data[half:])
    proc.stdin.close()
    rest = proc.stdout.read()
    assert proc.wait(60) == 0
    dec = run_cli("decompress", "--raw", "--model", speech_model, "-", input=early + rest)
    assert dec.returncode == 0 and len(dec.stdout) == len(data)


def test_reader_closing_the_pipe_ends_quietly(speech_model):
    x = make_speechlike(4.0, 16000, seed=7)
    enc = run_cli("compress", "--raw", "--rate", "16000", "--model", speech_model, "-", input=pcm16(x))
    cmd = (f"{sys.executable} -m cli.main decompress --raw --model {speech_model} - | head -c 100 > /dev/null")
    r = subprocess.run(["bash", "-c", cmd], input=enc.stdout, capture_output=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and r.stderr == b""


@pytest.mark.parametrize("args, stdin, code, message", [
    (["--raw"], b"\0\0" * 100, 1, b"needs --rate"),
    (["--raw", "--rate", "7"], b"\0\0" * 100, 1, b"not a plausible sample rate"),
    (["--raw", "--rate", "16000", "--channels", "0"], b"\0\0" * 100, 1, b"out of range"),
    (["--raw", "--rate", "16000"], b"", 2, b"empty input"),
    (["--raw", "--rate", "16000"], b"\0\0\0", 2, b"partial sample"),
    ([], b"RIFF\x10\0\0\0WAVEjunk", 2, b"not audio"),
])
def test_bad_audio_input_gets_one_line(speech_model, args, stdin, code, message):
    r = run_cli("compress", *args, "--model", speech_model, "-", input=stdin)
    assert r.returncode == code, r.stderr
    assert message in r.stderr and r.stderr.count(b"\n") == 1


def test_truncated_and_empty_streams_fail_cleanly(speech_model, tmp_path):
    x = make_speechlike(2.5, 16000, seed=8)
    enc = run_cli("compress", "--raw", "--rate", "16000", "--model", speech_model, "-", input=pcm16(x))
    for data in (b"", enc.stdout[:10], enc.stdout[: len(enc.stdout) - 7]):
        out = tmp_path / "t.wav"
        p = tmp_path / "t.vqc"
        p.write_bytes(data)
        r = run_cli("decompress", p, "--model", speech_model, "-o", out)
        assert r.returncode == 2 and r.stderr.count(b"\n") == 1, r.stderr
        assert not out.exists()


def test_rate_control_two_stage_counts(speech_model, tmp_path):
    x = make_speechlike(3.0, 16000, seed=9)
    sf.write(tmp_path / "r.wav", x, 16000)
    sizes = {}
    for s in (1, 2):
        out = tmp_path / f"r{s}.vqc"
        assert run_cli("compress", tmp_path / "r.wav", "--model", speech_model, "--stages", str(s),
                       "-o", out).returncode == 0
        sizes[s] = out.stat().st_size
        assert run_cli("decompress", out, "--model", speech_model, "-o", tmp_path / f"r{s}.wav").returncode == 0
        y, rate = sf.read(tmp_path / f"r{s}.wav")
        assert rate == 16000 and len(y) == len(x) and 0 < np.abs(y).max() <= 1
    assert sizes[1] < sizes[2]


def test_decoding_stops_at_the_duration_limit(speech_model, tmp_path):
    x = make_speechlike(3.0, 16000, seed=10)
    enc = run_cli("compress", "--raw", "--rate", "16000", "--model", speech_model, "-", input=pcm16(x))
    (tmp_path / "l.vqc").write_bytes(enc.stdout)
    r = run_cli("decompress", tmp_path / "l.vqc", "--model", speech_model, "--max-seconds", "1.5",
                "-o", tmp_path / "l.wav")
    assert r.returncode == 2 and b"longer than the limit" in r.stderr
    assert not (tmp_path / "l.wav").exists()


def test_a_wav_on_stdin_is_streamed_and_its_trailing_chunks_ignored(speech_model, tmp_path):
    x = make_speechlike(1.5, 16000, seed=11)
    buf = io.BytesIO()
    sf.write(buf, x, 16000, format="WAV", subtype="PCM_16")
    wav = buf.getvalue() + b"LIST\x04\x00\x00\x00abcd"  # metadata after the samples
    enc = run_cli("compress", "--stream", "--model", speech_model, "-", input=wav)
    assert enc.returncode == 0, enc.stderr
    dec = run_cli("decompress", "--raw", "--model", speech_model, "-", input=enc.stdout)
    assert dec.returncode == 0 and len(dec.stdout) == 2 * len(x)


@pytest.mark.skipif(sys.platform == "win32", reason="names are bytes on POSIX only")
def test_an_audio_file_whose_name_is_not_utf8_is_read(speech_model, tmp_path):
    """A Latin-1 name (an old disk, a zip archive): it is audio, not 'neither an image nor
    audio' (soundfile encodes str names as UTF-8 and failed)."""
    src = tmp_path / os.fsdecode(b"caf\xe9.wav")
    sf.write(tmp_path / "a.wav", make_speechlike(0.5, 16000, seed=13), 16000, subtype="PCM_16")
    (tmp_path / "a.wav").rename(src)
    r = run_cli("compress", "--model", speech_model, src)
    assert r.returncode == 0, r.stderr
    back = run_cli("decompress", "--model", speech_model, f"{src}.vqc", "-o", tmp_path / "o.wav")
    assert back.returncode == 0, back.stderr
    assert sf.info(tmp_path / "o.wav").frames == 8000


@pytest.mark.parametrize("stream", [(), ("--stream",)])
def test_a_cut_wav_on_stdin_is_coded_as_the_same_file_is(stream, speech_model, tmp_path):
    """A WAV cut inside a sample (a download or copy that broke off) codes its whole samples,
    from a pipe as from the file (libsndfile drops the partial one)."""
    buf = io.BytesIO()
    sf.write(buf, make_speechlike(0.5, 16000, seed=12), 16000, format="WAV", subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(buf.getvalue()[:-101])  # 50 whole samples and a byte of one fewer
    as_file = run_cli("compress", *stream, "--model", speech_model, cut, "-c", "-f")
    assert as_file.returncode == 0, as_file.stderr
    piped = run_cli("compress", *stream, "--model", speech_model, "-", "-c", "-f",
                    input=cut.read_bytes())
    assert piped.returncode == 0 and piped.stderr == b"", piped.stderr
    assert piped.stdout == as_file.stdout
    dec = run_cli("decompress", "--raw", "--model", speech_model, "-", "-c", "-f", input=piped.stdout)
    assert len(dec.stdout) == 2 * (8000 - 51)


def test_a_fractional_stage_count_codes_the_last_stage_on_that_share_of_each_chunk(speech_model, tmp_path):
    """--stages 1.5 on a 2-stage model: in every 1 s record the second stage is coded on half
    the frames (25 of 50), the frames it brings closest to the latent; those frames carry the
    2-stage codes, the others the 1-stage code, and the file's size falls between the two."""
    x = make_speechlike(3.0, 16000, seed=12)
    sf.write(tmp_path / "p.wav", x, 16000)
    idx, sizes = {}, {}
    for s in ("1", "1.5", "2"):
        out = tmp_path / f"p{s}.vqc"
        r = run_cli("compress", tmp_path / "p.wav", "--model", speech_model, "--stages", s,
                    "-o", out, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["bytes"] == out.stat().st_size
        sizes[s] = out.stat().st_size
        assert run_cli("decompress", out, "--model", speech_model, "--indices",
                       tmp_path / f"p{s}.npy").returncode == 0
        idx[s] = np.load(tmp_path / f"p{s}.npy")
    assert sizes["1"] < sizes["1.5"] < sizes["2"]
    coded = idx["1.5"][:, 1] >= 0
    assert [int(coded[a: a + 50].sum()) for a in range(0, 150, 50)] == [25, 25, 25]
    assert np.array_equal(idx["1.5"][coded], idx["2"][coded])
    assert np.array_equal(idx["1.5"][~coded, 0], idx["1"][~coded, 0])
    info = run_cli("info", tmp_path / "p1.5.vqc", "--json")
    assert ({"version": 9, "stages": 2, "share": 128, "stages_option": 1.5}.items()
            <= json.loads(info.stdout).items())
    assert b"stages_option: 1.5" in run_cli("info", tmp_path / "p1.5.vqc").stdout
    r = run_cli("decompress", tmp_path / "p1.5.vqc", "--model", speech_model, "-o", tmp_path / "p.out.wav")
    assert r.returncode == 0, r.stderr
    y, rate = sf.read(tmp_path / "p.out.wav")
    assert rate == 16000 and len(y) == len(x) and 0 < np.abs(y).max() <= 1


def test_a_live_stream_with_a_partial_stage_decodes_chunk_by_chunk(speech_model, tmp_path):
    """--stream --stages 1.5: 200 ms chunks of 10 frames, the second stage on 5 of each (a
    short last chunk of 7 frames: on 4), a low-latency stream (version 9: level control) that a
    pipe decodes."""
    x = make_speechlike(1.34, 16000, seed=14)  # 67 frames: 6 chunks of 10 and one of 7
    enc = run_cli("compress", "--stream", "--stages", "1.5", "--raw", "--rate", "16000",
                  "--model", speech_model, "-", input=pcm16(x))
    assert enc.returncode == 0, enc.stderr
    (tmp_path / "s.vqc").write_bytes(enc.stdout)
    info = json.loads(run_cli("info", tmp_path / "s.vqc", "--json").stdout)
    assert (info["version"], info["schedule"], info["share"], info["records"]) == (9, "low-latency", 128, 7)
    assert "stages_option" not in json.loads(run_cli("info", ROOT / "tests" / "golden" / "speech.vqc", "--json").stdout)
    run_cli("decompress", tmp_path / "s.vqc", "--model", speech_model, "--indices", tmp_path / "s.npy")
    coded = np.load(tmp_path / "s.npy")[:, 1] >= 0
    assert [int(coded[a: a + 10].sum()) for a in range(0, 67, 10)] == [5] * 6 + [4]
    dec = run_cli("decompress", "--raw", "--model", speech_model, "-", input=enc.stdout)
    assert dec.returncode == 0 and len(dec.stdout) == 2 * len(x)


@pytest.mark.parametrize("stages", ["0.5", "2.5", "3"])
def test_a_stage_count_the_model_lacks_is_a_usage_error(speech_model, tmp_path, stages):
    sf.write(tmp_path / "q.wav", make_speechlike(0.5, 16000, seed=13), 16000)
    r = run_cli("compress", tmp_path / "q.wav", "--model", speech_model, "--stages", stages,
                "-o", tmp_path / "q.vqc")
    assert r.returncode == 1 and r.stderr.count(b"\n") == 1, r.stderr
    assert not (tmp_path / "q.vqc").exists()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("how", ["file", "stdin", "stream"])
def test_non_finite_float_samples_are_refused_in_one_line(bad, how, speech_model, tmp_path, recwarn):
    x = make_speechlike(0.5, 16000, seed=14)
    x[800] = bad
    sf.write(tmp_path / "f.wav", x, 16000, subtype="FLOAT")
    src, extra = (tmp_path / "f.wav", ()) if how == "file" else ("-", ("--stream",) * (how == "stream"))
    r = run_cli("compress", src, *extra, "--model", speech_model, "-o", tmp_path / "f.vqc",
                input=(tmp_path / "f.wav").read_bytes())
    assert r.returncode == 2
    assert r.stderr == b"vqcodec: error: audio input has a NaN or infinite sample at 0.050 s\n"
    assert not (tmp_path / "f.vqc").exists()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_float_samples_beyond_full_scale_are_clipped_with_one_warning(speech_model, tmp_path):
    x = make_speechlike(0.5, 16000, seed=15)
    loud = x / np.abs(x).max() * 3.0  # peaks at 3.0, from the first sample that passes 1.0
    first = int(np.argmax(np.abs(loud) > 1.0))
    sf.write(tmp_path / "loud.wav", loud, 16000, subtype="FLOAT")
    sf.write(tmp_path / "clipped.wav", np.clip(loud, -1, 1), 16000, subtype="FLOAT")
    r = run_cli("compress", tmp_path / "loud.wav", "--model", speech_model, "-o", tmp_path / "l.vqc")
    assert r.returncode == 0
    assert r.stderr.decode() == (f"vqcodec: warning: float samples beyond full scale from "
                                 f"{first / 16000:.3f} s (peak 3) are clipped to [-1, 1]\n")
    # what the warning says is what was done: the stream of the input clipped beforehand
    assert run_cli("compress", tmp_path / "clipped.wav", "--model", speech_model,
                   "-o", tmp_path / "c.vqc").stderr == b""
    assert (tmp_path / "l.vqc").read_bytes() == (tmp_path / "c.vqc").read_bytes()
    quiet = run_cli("compress", tmp_path / "loud.wav", "--model", speech_model, "-q", "-c")
    assert quiet.returncode == 0 and quiet.stderr == b""


@pytest.mark.parametrize("rate, channels, message", [
    (100, 1, "sample rate 100 is not supported (1000..768000)"),
    (1, 1, "sample rate 1 is not supported (1000..768000)"),
    (1_000_000, 1, "sample rate 1000000 is not supported (1000..768000)"),
    (16000, 70, "70 channels are not supported (1..64)"),
    (16000, 300, "300 channels are not supported (1..64)"),
])
def test_a_file_of_an_unsupported_rate_or_channel_count_is_bad_input(rate, channels, message,
                                                                     speech_model, tmp_path):
    sf.write(tmp_path / "u.wav", np.zeros((max(rate // 10, 4), channels), np.int16), rate)
    for src in (tmp_path / "u.wav", "-"):
        r = run_cli("compress", src, "--model", speech_model, "-o", tmp_path / "u.vqc",
                    input=(tmp_path / "u.wav").read_bytes())
        assert r.returncode == 2
        assert r.stderr.decode() == f"vqcodec: error: {message}\n"
        assert not (tmp_path / "u.vqc").exists()


def test_chunk_ms_is_whole_20_ms_frames_rounded_up(speech_model, tmp_path):
    assert b"whole 20 ms frames, rounded up" in b" ".join(run_cli("compress", "--help").stdout.split())
    sf.write(tmp_path / "c.wav", make_speechlike(0.5, 16000, seed=16), 16000)
    for ms, frames in (("30", 2), ("50", 3), ("60", 3)):
        assert run_cli("compress", tmp_path / "c.wav", "--model", speech_model, "--chunk-ms", ms,
                       "-o", tmp_path / "c.vqc", "-f").returncode == 0
        info = json.loads(run_cli("info", tmp_path / "c.vqc", "--json").stdout)
        assert info["chunk_frames"] == frames, ms
