"""Unix manners: several files, --jobs, -c, --version/--help speed, tampered models, Ctrl-C."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, default_signals, make_image, run_cli, run_process



def test_several_inputs_with_jobs_and_an_output_folder(image_model, tmp_path):
    srcs = [make_image(tmp_path / f"m{i}.png", 64, 48, seed=i) for i in range(3)]
    out = tmp_path / "out"
    out.mkdir()
    r = run_process("compress", *srcs, "--model", image_model, "-o", out, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"m{i}.png.vqc" for i in range(3)]
    r = run_process("decompress", *sorted(out.iterdir()), "--model", image_model, "-o", out, "-j", "2")
    assert r.returncode == 0, r.stderr
    assert len(list(out.glob("*.png"))) == 3


def test_one_bad_file_among_several_is_reported_and_the_rest_are_done(image_model, tmp_path):
    good = make_image(tmp_path / "good.png", 64, 48, seed=1)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    r = run_cli("compress", bad, good, "--model", image_model, "-o", tmp_path)
    assert r.returncode == 2
    assert b"bad.png" in r.stderr and r.stderr.count(b"\n") == 1
    assert (tmp_path / "good.png.vqc").exists() and not (tmp_path / "bad.png.vqc").exists()


def test_stdout_flag_writes_the_stream_to_stdout(image_model, tmp_path):
    src = make_image(tmp_path / "s.png", 64, 48, seed=2)
    r = run_cli("compress", src, "--model", image_model, "-c")
    assert r.returncode == 0 and r.stdout[:2] == b"VQ"
    assert not (tmp_path / "s.png.vqc").exists()


def test_version_and_help_do_not_import_torch():
    code = ("import sys, runpy; sys.argv=['vqcodec','--version']\n"
            "try:\n runpy.run_module('cli.main', run_name='__main__')\n"
            "except SystemExit: pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True)
    assert r.returncode == 0, r.stderr
    assert b"vqcodec" in r.stdout


def test_tampered_model_file_is_refused(image_model, tmp_path):
    data = bytearray(image_model.read_bytes())
    data[-100] ^= 0x01  # a weight byte
    bad = tmp_path / "tampered.safetensors"
    bad.write_bytes(bytes(data))
    src = make_image(tmp_path / "t.png", 64, 48, seed=3)
    r = run_cli("compress", src, "--model", bad)
    assert r.returncode == 3 and b"tampered" in r.stderr


def test_a_pickle_is_not_a_model(tmp_path):
    import pickle

    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"a": 1}))
    r = run_cli("compress", make_image(tmp_path / "e.png", 32, 32, seed=4), "--model", evil)
    assert r.returncode == 3 and b"not a vqcodec model" in r.stderr


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_interrupt_leaves_no_partial_output(sig, code, speech_model, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "compress", "--raw", "--rate", "16000",
                             "--model", str(speech_model), "-", "-o", str(tmp_path / "x.vqc")],
                            cwd=ROOT, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            # a shell's background jobs inherit SIGINT ignored, nohup SIGHUP
                            preexec_fn=default_signals)
    try:
        proc.stdin.write(np.zeros(16000, dtype="<i2").tobytes())
        proc.stdin.flush()
        deadline = time.time() + 120
        while not list(tmp_path.glob("*.part")) and time.time() < deadline:
            time.sleep(0.1)  # wait until it is working on its temporary output
        assert list(tmp_path.glob("*.part")), "the temporary output never appeared"
        time.sleep(0.5)
        proc.send_signal(sig)
        assert proc.wait(60) == code
        assert list(tmp_path.iterdir()) == []
        assert proc.stderr.read() == (b"vqcodec: interrupted\n" if sig == signal.SIGINT
                                      else b"vqcodec: terminated\n")
    finally:
        proc.kill()


def test_sigterm_while_the_command_loads_ends_with_143_and_one_line():
    """The entry point turns SIGTERM into Terminated before it imports and builds the command
    (cli/main.py: run); arriving then, it still ends as the command's own handler ends it."""
    code = ("import sys, cli.main as m\n"
            "from cli.interrupt import Terminated\n"
            "def make_app(only=None):\n    raise Terminated(15)  # as the handler raises it\n"
            "m.make_app = make_app\n"
            "sys.argv = ['vqcodec', 'info', 'x.vqc']\n"
            "m.run()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert (r.returncode, r.stderr) == (143, "vqcodec: terminated\n")


def test_a_closed_standard_error_keeps_messages_out_of_standard_output(tmp_path):
    """`cmd -c 2>&-`: Python has no sys.stderr, and print(file=None) writes to stdout, so the
    error line went into the data there (and the exit status was 0)."""
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"neither an image nor audio")
    r = subprocess.run([sys.executable, "-m", "cli.main", "compress", str(bad), "-c", "-f"],
                       stdout=subprocess.PIPE, cwd=ROOT, timeout=120,
                       preexec_fn=lambda: __import__("os").close(2))
    assert r.returncode == 2
    assert r.stdout == b""


def test_an_internal_error_is_one_line_too(capsys, monkeypatch):
    """A bug's message may span lines (torch's state-dict reports do): the first is kept."""
    import typer

    from cli.errors import guarded

    @guarded
    def boom():
        raise RuntimeError("Error(s) in loading state_dict:\n\tsize mismatch for a\n\tand b")

    monkeypatch.delenv("VQCODEC_DEBUG", raising=False)
    with pytest.raises(typer.Exit) as info:
        boom()
    err = capsys.readouterr().err
    assert info.value.exit_code == 70 and err.count("\n") == 1
    assert "internal error: RuntimeError: Error(s) in loading state_dict: (" in err
