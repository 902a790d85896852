"""The CLI as a new user meets it: usage errors, checks before any work, names, messages, JSON."""

import io
import json

import numpy as np
import pytest
import soundfile as sf

from conftest import make_image, make_speechlike, run_cli


@pytest.mark.parametrize("args, message", [
    (["compress", "--bogus", "x.png"], b"No such option: --bogus"),
    (["compress"], b"Missing argument"),
    (["compress", "--jobs", "many", "x.png"], b"Invalid value for '--jobs'"),
])
def test_usage_errors_are_one_line_with_exit_1(args, message):
    r = run_cli(*args)
    assert r.returncode == 1 and message in r.stderr
    assert r.stderr.count(b"\n") == 1 and r.stderr.startswith(b"vqcodec: error:")


def test_a_directory_is_called_a_directory(tmp_path):
    r = run_cli("compress", tmp_path)
    assert r.returncode == 1 and b"is a directory" in r.stderr


def test_stdin_with_an_output_folder_is_named_stdin(image_model, tmp_path):
    src = make_image(tmp_path / "a.png", 32, 32, seed=1)
    out = tmp_path / "out"
    out.mkdir()
    r = run_cli("compress", "-", "--model", image_model, "-o", out, input=src.read_bytes())
    assert r.returncode == 0, r.stderr
    assert [p.name for p in out.iterdir()] == ["stdin.vqc"]


def test_a_webp_on_stdin_or_as_bytes_is_an_image_though_riff(image_model, tmp_path):
    """WebP and WAV are both RIFF files: only RIFF/WAVE is taken for audio by its first bytes."""
    import vqcodec
    from PIL import Image

    make_image(tmp_path / "a.png", 32, 24, seed=2)
    Image.open(tmp_path / "a.png").save(tmp_path / "a.webp")
    webp = (tmp_path / "a.webp").read_bytes()
    r = run_cli("compress", "-", "--model", image_model, "-o", tmp_path / "a.vqc", input=webp)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.vqc").read_bytes() == vqcodec.compress(webp, str(image_model))


def test_mp3_is_audio_by_content(speech_model, tmp_path):
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile does not write MP3")
    sf.write(tmp_path / "talk.mp3", make_speechlike(1.0, 16000, seed=1), 16000, format="MP3")
    r = run_cli("compress", tmp_path / "talk.mp3", "--model", speech_model)
    assert r.returncode == 0, r.stderr


def test_unreadable_input_names_both_readers(tmp_path):
    (tmp_path / "x.dat").write_bytes(b"hello, I am text\n" * 10)
    r = run_cli("compress", tmp_path / "x.dat")
    assert r.returncode == 2 and b"neither an image nor an audio reader" in r.stderr
    (tmp_path / "x.wav").write_bytes(b"RIFF\x10\0\0\0WAVEnot really a wave file")
    r = run_cli("compress", tmp_path / "x.wav")  # audio by its first bytes, yet unreadable
    assert r.returncode == 2 and b"neither an image nor an audio reader" in r.stderr


def test_a_file_that_starts_as_audio_is_never_shown_to_pillow(tmp_path, monkeypatch):
    """Pillow, failing on a WAV, would first import and try every plugin it has (40-50 ms)."""
    from PIL import Image

    from vqcodec import files

    sf.write(tmp_path / "a.wav", make_speechlike(0.2, 16000, seed=4), 16000)

    def refuse(*args, **kwargs):
        raise AssertionError("Pillow was asked")

    monkeypatch.setattr(Image, "open", refuse)
    assert files.sniff(str(tmp_path / "a.wav")) == "speech"


@pytest.mark.filterwarnings("ignore:IM image format is deprecated:DeprecationWarning")
@pytest.mark.parametrize("magic", [b"ID3", b"FORM", b"OggS", b"fLaC"])
def test_an_image_that_starts_like_audio_is_still_an_image(tmp_path, magic):
    """An IM file's header is free text: its first line may start as an audio container does."""
    from PIL import Image

    from vqcodec import files

    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 30, 90)).save(buf, format="IM")
    data = magic + b": a comment\r\n" + buf.getvalue()
    assert Image.open(io.BytesIO(data)).size == (24, 16)  # Pillow reads it
    (tmp_path / "x.im").write_bytes(data)
    assert files.sniff(str(tmp_path / "x.im")) == "image"
    assert files.sniff(data) == "image"


def test_wrong_kind_message_uses_the_right_article(image_model, tmp_path):
    sf.write(tmp_path / "s.wav", make_speechlike(0.5, 16000, seed=1), 16000)
    r = run_cli("compress", tmp_path / "s.wav", "--model", image_model)
    assert r.returncode == 3 and b"is an image model" in r.stderr


def test_help_shows_the_stages_default():
    r = run_cli("compress", "--help")
    assert b"the model's default" in r.stdout


def _never(*a, **k):
    raise AssertionError("decoding started before the checks")


@pytest.mark.parametrize("extra, code", [
    ([], 4),  # output exists, no --force
])
def test_existing_output_is_refused_before_decoding(image_model, tmp_path, monkeypatch, extra, code):
    from vqcodec import api

    src = make_image(tmp_path / "b.png", 32, 32, seed=2)
    assert run_cli("compress", src, "--model", image_model).returncode == 0
    (tmp_path / "b.png").write_bytes(b"keep")
    monkeypatch.setattr(api, "decompress_image_from", _never)
    r = run_cli("decompress", tmp_path / "b.png.vqc", "--model", image_model, *extra)
    assert r.returncode == code and b"already exists" in r.stderr


def test_unknown_output_extension_is_refused_before_decoding(image_model, tmp_path, monkeypatch):
    from vqcodec import api

    src = make_image(tmp_path / "c.png", 32, 32, seed=3)
    assert run_cli("compress", src, "--model", image_model).returncode == 0
    monkeypatch.setattr(api, "decompress_image_from", _never)
    r = run_cli("decompress", tmp_path / "c.png.vqc", "--model", image_model, "-o", tmp_path / "c.xyz")
    assert r.returncode == 1 and b"unknown" in r.stderr


def test_unwritable_folder_is_refused_before_encoding(image_model, tmp_path, monkeypatch):
    from vqcodec import api

    src = make_image(tmp_path / "d.png", 32, 32, seed=4)
    monkeypatch.setattr(api, "compress_image_to", _never)
    r = run_cli("compress", src, "--model", image_model, "-o", tmp_path / "missing" / "d.vqc")
    assert r.returncode == 4 and b"no such folder" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--stages", "1"], b"--stages applies to speech"),
    (["--rate", "8000"], b"--rate"),
    (["--low-latency"], b"--low-latency applies to speech"),
    (["--full-context"], b"--full-context applies to speech"),
    (["--chunk-ms", "200"], b"--chunk-ms applies to speech"),
])
def test_speech_options_on_an_image_are_usage_errors(image_model, tmp_path, monkeypatch, args, message):
    from vqcodec import api

    src = make_image(tmp_path / "e.png", 32, 32, seed=5)
    monkeypatch.setattr(api, "compress_image_to", _never)
    r = run_cli("compress", src, "--model", image_model, *args)
    assert r.returncode == 1 and message in r.stderr and r.stderr.count(b"\n") == 1


@pytest.mark.parametrize("args, message", [
    (["--stages", "0"], b"at least 1"),
    (["--stages", "9"], b"between 1 and 2"),
    (["--rate", "8000"], b"--raw"),
])
def test_speech_option_conflicts_are_usage_errors(speech_model, tmp_path, monkeypatch, args, message):
    from vqcodec import api

    sf.write(tmp_path / "s.wav", make_speechlike(0.5, 16000, seed=1), 16000)
    monkeypatch.setattr(api, "compress_audio_to", _never)
    r = run_cli("compress", tmp_path / "s.wav", "--model", speech_model, *args)
    assert r.returncode == 1 and message in r.stderr


def test_json_reports_one_object_per_file(image_model, tmp_path):
    srcs = [make_image(tmp_path / f"j{i}.png", 32, 24, seed=i) for i in range(2)]
    out = tmp_path / "o"
    out.mkdir()
    r = run_cli("compress", *srcs, "--model", image_model, "-o", out, "--json")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 0 and len(rows) == 2
    assert {"input", "output", "bytes", "bpp", "model", "seconds"} <= set(rows[0])
    r = run_cli("decompress", out / "j0.png.vqc", "--model", image_model, "-o", tmp_path / "j.png",
                "--json")
    row = json.loads(r.stdout)
    assert row["output"] == str(tmp_path / "j.png") and row["bpp"] > 0


def test_sample_of_one_goes_exactly_where_o_says(speech_model, tmp_path):
    r = run_cli("sample", "--model", speech_model, "-o", tmp_path / "x.wav", "-n", "1",
                "--scheme", "uniform", "--size", "10")
    assert r.returncode == 0, r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]


def test_a_wav_on_a_slow_pipe_is_still_audio(speech_model, tmp_path, monkeypatch):
    """A pipe that hands out a byte at a time must not make a WAV look like an image."""
    import sys

    buf = io.BytesIO()
    sf.write(buf, make_speechlike(0.5, 16000, seed=3), 16000, format="WAV", subtype="PCM_16")

    class Trickle(io.RawIOBase):
        def __init__(self, data):
            self.data = data

        def readable(self):
            return True

        def readinto(self, b):
            if not self.data:
                return 0
            b[0], self.data = self.data[0], self.data[1:]
            return 1

    from vqcodec import files

    class FakeStdin:
        buffer = Trickle(buf.getvalue())

    monkeypatch.setattr(sys, "stdin", FakeStdin)
    result = files.compress_file("-", str(tmp_path / "t.vqc"), files.Options(model=str(speech_model)))
    assert result["bit_per_second"] > 0
    assert np.isfinite(result["seconds"])


def test_a_process_builds_only_the_command_it_runs():
    """`run` builds the command its first argument names, alone; anything else gets every
    command, in the order --help lists them."""
    from typer.main import get_command

    from cli.main import COMMANDS, make_app

    assert list(get_command(make_app("info")).commands) == ["info"]
    assert list(get_command(make_app()).commands) == list(COMMANDS)


def test_no_command_prints_the_help():
    r = run_cli()
    assert r.returncode == 0 and b"Usage:" in r.stdout and r.stderr == b""


def test_usage_lines_show_readable_metavars():
    r = run_cli("compress", "--help")
    assert b"compress [OPTIONS] INPUT..." in r.stdout
    assert b"{" not in r.stdout and b"list[str]" not in r.stdout


@pytest.mark.parametrize("extra", [("-o", "OUT"), ("-c",), ("--raw",), ("--rate", "8000"),
                                   ("--channels", "2"), ("--no-postfilter",)])
def test_indices_with_media_output_options_is_a_usage_error(extra, speech_model, tmp_path, monkeypatch):
    from vqcodec import api

    sf.write(tmp_path / "s.wav", make_speechlike(0.5, 16000, seed=1), 16000)
    assert run_cli("compress", tmp_path / "s.wav", "--model", speech_model).returncode == 0
    monkeypatch.setattr(api, "decode_stream_indices", _never)
    args = [tmp_path / "x.wav" if a == "OUT" else a for a in extra]
    r = run_cli("decompress", tmp_path / "s.wav.vqc", "--model", speech_model,
                "--indices", tmp_path / "i.npy", *args)
    assert r.returncode == 1
    assert r.stderr == (b"vqcodec: error: --indices writes the codebook indices instead of media; "
                        b"-o, -c, --raw, --rate, --channels and --(no-)postfilter do not apply\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.wav", "s.wav.vqc"]


@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_standard_input_named_twice_is_refused_before_reading_it(command, speech_model, tmp_path):
    r = run_cli(command, "-", "-", "--model", speech_model, "-o", tmp_path, input=b"RIFF")
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr == b"vqcodec: error: standard input can be read only once; give '-' once\n"
    assert list(tmp_path.iterdir()) == []
