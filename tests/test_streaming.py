"""Live streams: a stream ended by a signal, or by an error in its input, is closed properly
and decodes completely."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, default_signals, make_speechlike, run_cli



@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_mid_stream_leaves_a_file_that_decodes_completely(sig, speech_model, tmp_path):
    out = tmp_path / "live.vqc"
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "compress", "--stream", "--raw",
                             "--rate", "16000", "--model", str(speech_model), "-", "-o", str(out)],
                            cwd=ROOT, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            # a shell's background jobs inherit SIGINT ignored, nohup SIGHUP
                            preexec_fn=default_signals)
    try:
        pcm = (make_speechlike(1.5, 16000, 3) * 32767).astype("<i2").tobytes()
        proc.stdin.write(pcm)  # the input stays open, as a microphone's would
        proc.stdin.flush()
        deadline = time.time() + 120
        while time.time() < deadline:  # wait until chunks are being written
            parts = list(tmp_path.glob("*.part"))
            if parts and parts[0].stat().st_size > 40:
                break
            time.sleep(0.1)
        time.sleep(0.3)
        proc.send_signal(sig)
        assert proc.wait(60) == 128 + sig
        assert b"decodes completely" in proc.stderr.read()
    finally:
        proc.kill()
    info = run_cli("info", out, "--json")
    assert info.returncode == 0 and b'"error"' not in info.stdout
    back = run_cli("decompress", out, "-o", tmp_path / "live.wav", "--model", speech_model)
    assert back.returncode == 0, back.stderr
    assert sf.info(str(tmp_path / "live.wav")).frames == 24000  # everything that was fed


def _pcm(seconds: float, seed: int) -> bytes:
    return (make_speechlike(seconds, 16000, seed) * 32767).astype("<i2").tobytes()


@pytest.mark.parametrize("to", ["file", "stdout"])
def test_an_input_error_mid_stream_keeps_a_closed_stream_of_the_audio_before_it(to, speech_model,
                                                                                tmp_path):
    pcm = _pcm(0.7, 5)
    out = tmp_path / "live.vqc"
    r = run_cli("compress", "--stream", "--raw", "--rate", "16000", "--model", speech_model, "-",
                *(("-o", out) if to == "file" else ()), input=pcm + b"x")
    assert r.returncode == 2
    assert r.stderr == (b"vqcodec: error: raw input ends with a partial sample frame (1 byte); "
                        b"the audio before it was coded and the stream closed\n")
    if to == "stdout":
        out.write_bytes(r.stdout)
    back = run_cli("decompress", out, "--model", speech_model, "--raw", "-o", tmp_path / "o.raw")
    assert back.returncode == 0, back.stderr  # a plain decompress: the stream is whole
    assert len((tmp_path / "o.raw").read_bytes()) == len(pcm)


def test_a_file_that_fails_mid_read_under_stream_keeps_what_was_read(speech_model, tmp_path,
                                                                     monkeypatch):
    from vqcodec import media

    monkeypatch.setattr(media, "AUDIO_BLOCK", 4000)  # 0.25 s blocks: the NaN is in the third
    x = make_speechlike(1.0, 16000, 6)
    x[9000] = np.nan
    sf.write(tmp_path / "f.wav", x, 16000, subtype="FLOAT")
    r = run_cli("compress", "--stream", tmp_path / "f.wav", "--model", speech_model,
                "-o", tmp_path / "f.vqc")
    assert r.returncode == 2
    assert r.stderr == (b"vqcodec: error: audio input has a NaN or infinite sample at 0.562 s; "
                        b"the audio before it was coded and the stream closed\n")
    back = run_cli("decompress", tmp_path / "f.vqc", "--model", speech_model, "-o", tmp_path / "f.out.wav")
    assert back.returncode == 0, back.stderr
    assert sf.info(str(tmp_path / "f.out.wav")).frames == 8000


def test_an_input_error_before_any_audio_leaves_nothing(speech_model, tmp_path):
    r = run_cli("compress", "--stream", "--raw", "--rate", "16000", "--model", speech_model, "-",
                "-o", tmp_path / "x.vqc", input=b"x")
    assert r.returncode == 2
    assert r.stderr == b"vqcodec: error: raw input ends with a partial sample frame (1 byte)\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [("--raw", "--rate", "16000"), ()])
def test_a_signal_while_waiting_for_the_first_audio_ends_at_once(args, speech_model, tmp_path):
    """A --stream whose input has not sent a byte yet (a recorder still starting, a network
    source not connected): Ctrl-C ends it now, not once input arrives; nothing is written."""
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "compress", "--stream", *args,
                             "--model", str(speech_model), "-", "-o", str(tmp_path / "x.vqc")],
                            cwd=ROOT, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_signals)
    try:
        time.sleep(3)  # started and waiting on its input, which stays open and silent
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 130
        assert proc.stderr.read().count(b"\n") == 1
    finally:
        proc.kill()
    assert list(tmp_path.iterdir()) == []
