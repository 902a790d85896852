"""Live streams: a stream ended by a signal is closed properly and decodes completely."""

import signal
import subprocess
import sys
import time

import pytest

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
    import soundfile as sf

    assert sf.info(str(tmp_path / "live.wav")).frames == 24000  # everything that was fed
