"""`vqcodec train`, `sample` and `bench` as a new user meets them: bad options, checkpoints and
data are one line on stderr and a documented exit code, before any work where they can be."""

import json
import os

import pytest

from conftest import TINY_IMAGE, TINY_SPEECH, make_image, run_cli

IMAGE = ["--config", json.dumps(TINY_IMAGE), "--batch", "2", "--crop", "32", "--steps", "2",
         "--prior-steps", "2", "--prior-examples", "4", "--device", "cpu", "--workers", "0", "-q"]


def one_line(r, code: int, text: str) -> None:
    err = r.stderr.decode()
    assert r.returncode == code, err
    assert err.count("\n") == 1 and err.startswith("vqcodec: error:") and text in err, err


@pytest.fixture
def stopped_run(media, tmp_path):
    """A tiny image run stopped after one step: OUT.ckpt to resume."""
    out = tmp_path / "m.safetensors"
    r = run_cli("train", "image", "--data", media / "img", "--out", out, *IMAGE, "--stop-after", "1")
    assert r.returncode == 0, r.stderr.decode()
    assert (tmp_path / "m.safetensors.ckpt").exists() and not out.exists()
    return out


@pytest.mark.parametrize("change", [
    ["--config", json.dumps({**TINY_IMAGE, "codebook_size": 64})],
    ["--config", "{}"],  # the default (large) model
    ["--quantizer", "nsvq"],
])
def test_resuming_another_model_is_one_line(stopped_run, media, change):
    r = run_cli("train", "image", "--data", media / "img", "--out", stopped_run, *IMAGE, *change,
                "--resume")
    one_line(r, 1, "resume it as it was started")
    assert not stopped_run.exists()


def test_resuming_a_speech_run_from_an_image_checkpoint_is_one_line(stopped_run, media):
    r = run_cli("train", "speech", "--data", media / "sp", "--out", stopped_run, "--config",
                json.dumps(TINY_SPEECH), "--steps", "2", "--prior-steps", "2", "--batch", "2",
                "--device", "cpu", "--workers", "0", "-q", "--resume")
    one_line(r, 1, "resume it as it was started")


def test_a_damaged_checkpoint_is_one_line(media, tmp_path):
    out = tmp_path / "m.safetensors"
    ckpt = tmp_path / "m.safetensors.ckpt"
    for damaged in (b"not a checkpoint", b"PK\x03\x04" + b"\0" * 40):
        ckpt.write_bytes(damaged)
        r = run_cli("train", "image", "--data", media / "img", "--out", out, *IMAGE, "--resume")
        one_line(r, 2, "not a readable checkpoint")
        r = run_cli("train", "image", "--data", media / "img", "--out", tmp_path / "n.safetensors",
                    *IMAGE, "--init", ckpt)
        one_line(r, 2, "not a readable checkpoint")
    assert not out.exists()


def test_examples_unreadable_in_a_worker_are_one_line(tmp_path):
    """The files pass the scan (their headers are whole) and fail when a worker reads them."""
    d = tmp_path / "bad"
    d.mkdir()
    for i in range(2):
        whole = make_image(tmp_path / f"{i}.png", 64, 64, seed=i).read_bytes()
        (d / f"{i}.png").write_bytes(whole[:200])
    r = run_cli("train", "image", "--data", d, "--out", tmp_path / "m.safetensors", *IMAGE,
                "--workers", "1")  # the last --workers counts
    one_line(r, 2, f"no readable examples left in {d}")


@pytest.mark.parametrize("option, message", [
    (["--batch", "0"], "--batch"),
    (["--lr", "-1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--checkpoint-every", "0"], "--checkpoint-every"),
    (["--prior-examples", "0"], "--prior-examples"),
    (["--steps", "-1"], "--steps"),
    (["--prior-steps", "-1"], "--prior-steps"),
    (["--stop-after", "-1"], "--stop-after"),
    (["--ae-minutes", "-1"], "--ae-minutes"),
    (["--device", "tpu"], "--device"),
    (["--crop", "33"], "--crop"),
    (["--crop", "0"], "--crop"),
    (["--device", "cuda"], "--device cuda"),  # where torch finds no GPU
])
def test_bad_training_options_are_one_line_before_any_work(media, tmp_path, option, message):
    import torch

    if option == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    out = tmp_path / "m.safetensors"
    r = run_cli("train", "image", "--data", media / "img", "--out", out, *IMAGE, *option)
    one_line(r, 1, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seconds", ["0", "0.05", "0.13", "-1", "nan"])
def test_a_speech_segment_that_is_not_whole_frames_is_one_line(media, tmp_path, seconds):
    r = run_cli("train", "speech", "--data", media / "sp", "--out", tmp_path / "m.safetensors",
                "--config", json.dumps(TINY_SPEECH), "--steps", "1", "--prior-steps", "1",
                "--batch", "2", "--device", "cpu", "--workers", "0", "-q", "--seconds", seconds)
    one_line(r, 1, "--seconds")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option, code, message", [
    (["--seconds", "0"], 1, "--seconds"),
    (["--seconds", "nan"], 1, "--seconds"),
    (["--rate", "0"], 1, "--rate"),
    (["--chunk-ms", "0"], 1, "--chunk-ms"),
    (["--model", "no-such-model"], 3, "model not found"),
])
def test_bench_stream_refuses_bad_options_before_starting_processes(option, code, message):
    r = run_cli("bench", "stream", "--idle", *option)
    one_line(r, code, message)
    assert r.stdout == b""


def test_bench_stream_refuses_an_image_model(image_model):
    one_line(run_cli("bench", "stream", "--idle", "--model", image_model), 3, "an image model")


@pytest.mark.parametrize("temperature", ["nan", "inf", "-inf"])
def test_sample_refuses_a_temperature_that_is_not_a_positive_number(image_model, tmp_path, temperature):
    out = tmp_path / "s.png"
    r = run_cli("sample", "-o", out, "-m", image_model, "-n", "1", "--size", "16",
                "--temperature", temperature)
    one_line(r, 1, "--temperature")
    assert not out.exists()


def test_speech_samples_that_would_overwrite_one_are_refused_before_any_is_written(speech_model, tmp_path):
    (tmp_path / "s_1.wav").write_bytes(b"mine")
    r = run_cli("sample", "-o", tmp_path / "s.wav", "-m", speech_model, "-n", "3", "--size", "10")
    one_line(r, 4, "s_1.wav already exists")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s_1.wav"]
    assert (tmp_path / "s_1.wav").read_bytes() == b"mine"


def test_a_pack_in_a_missing_folder_is_an_output_error_before_reading(media, tmp_path):
    out = tmp_path / "no" / "p.npy"
    one_line(run_cli("pack", "image", media / "img", "-o", out, "-q"), 4, f"{tmp_path / 'no'}")


@pytest.mark.parametrize("option, message", [
    (["--seeds", "0"], "--seeds"),
    (["--plot", "nowhere/q.png"], "--plot"),
    (["--image-steps", "0"], "--image-steps"),
])
def test_bench_quantizers_refuses_bad_options_before_training(media, option, message):
    r = run_cli("bench", "quantizers", "--image-data", media / "img", "--speech-data",
                media / "sp", *option)
    assert r.returncode in (1, 4), r.stderr
    one_line(r, r.returncode, message)


@pytest.mark.parametrize("kind, config", [
    ("image", {"codebook_size": -3}),
    ("image", {"latent_dim": 0}),
    ("image", {"codebook_size": 2.5}),
    ("image", {"widths": "abc"}),
    ("image", {"widths": [8, 8, -8, 8]}),
    ("image", {"prior": 5}),
    ("image", {"prior": {"channels": 0}}),
    ("speech", {"width": 0}),
    ("speech", {"stages": 0}),
    ("speech", {"prior": [1]}),
    ("speech", {"prior": {"dilations": [1, 0]}}),
])
def test_config_values_that_make_no_network_are_one_line(media, tmp_path, kind, config):
    data = media / ("img" if kind == "image" else "sp")
    r = run_cli("train", kind, "--data", data, "--out", tmp_path / "m.safetensors", "--steps", "1",
                "--prior-steps", "1", "--batch", "2", "--device", "cpu", "--workers", "0", "-q",
                "--config", json.dumps(config))
    one_line(r, 1, "--config")
    assert list(tmp_path.iterdir()) == []


def test_an_image_sample_grid_named_other_than_png_is_refused_before_sampling(image_model, tmp_path):
    """The grid is a PNG: a .jpg name got PNG bytes."""
    r = run_cli("sample", "-o", tmp_path / "grid.jpg", "-m", image_model, "-n", "1", "--size", "16")
    one_line(r, 1, "*.png")
    assert list(tmp_path.iterdir()) == []


def test_init_from_a_model_of_the_other_kind_says_so(media, tmp_path):
    r = run_cli("train", "image", "--data", media / "img", "--out", tmp_path / "m.safetensors",
                *IMAGE, "--init", "speech-default")
    one_line(r, 2, "--init speech-default is a speech model; this run trains an image model")


def test_resume_without_a_checkpoint_says_it_starts_from_the_first_step(media, tmp_path):
    out = tmp_path / "typo.safetensors"
    r = run_cli("train", "image", "--data", media / "img", "--out", out, *IMAGE, "--resume")
    assert r.returncode == 0, r.stderr.decode()
    assert f"no checkpoint {out}.ckpt to resume: starting from the first step" in r.stderr.decode()
    assert out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_stops_training_after_its_step_with_a_checkpoint(media, tmp_path, signame):
    """Ctrl-C (to the whole process group, data-loader workers included, as a terminal sends
    it) or SIGTERM: the run finishes its step, saves a checkpoint there, not at the last
    --checkpoint-every, says where, exits 128 + the signal; --resume continues from it."""
    import signal
    import subprocess
    import sys
    import time

    import torch

    from conftest import ROOT, default_signals

    out = tmp_path / "m.safetensors"
    args = ["train", "image", "--data", media / "img", "--out", out, *IMAGE, "--steps", "100000",
            "--workers", "1", "--checkpoint-every", "100000"]
    log = tmp_path / "m.safetensors.log.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "cli.main", *map(str, args)], cwd=ROOT,
                         stderr=subprocess.PIPE, preexec_fn=default_signals,
                         start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 3):
            time.sleep(0.2)  # a few logged steps (one line every 10)
        sig = getattr(signal, signame)
        if signame == "SIGINT":
            os.killpg(p.pid, sig)
        else:
            p.send_signal(sig)
        err = p.communicate(timeout=60)[1].decode()
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 128 + sig, err
    state = torch.load(f"{out}.ckpt", weights_only=True)
    assert state["stage"] == "autoencoder" and state["step"] >= 10  # logged every 10 steps
    assert (f"vqcodec: interrupted: stopped at autoencoder step {state['step']}; continue with "
            f"--resume from {out}.ckpt") in err
    assert "Traceback" not in err and not out.exists()
    r = run_cli("train", "image", "--data", media / "img", "--out", out, *IMAGE, "--steps",
                str(state["step"] + 2), "--resume")
    assert r.returncode == 0, r.stderr.decode()
    assert out.exists()
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()
             if json.loads(line).get("stage") == "autoencoder" and "step" in json.loads(line)]
    assert steps[-1] == state["step"] + 2


def test_a_run_stopped_by_stop_after_is_not_called_finished(media, tmp_path):
    quiet = [a for a in IMAGE if a != "-q"]
    r = run_cli("train", "image", "--data", media / "img", "--out", tmp_path / "m.safetensors",
                *quiet, "--stop-after", "1")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "training stopped" in err and "training finished" not in err
    assert "checkpoint" in err  # the row that says where to --resume from


@pytest.mark.parametrize("name", ["s.png", "s.flac"])
def test_speech_samples_named_as_another_medium_are_refused_before_sampling(speech_model, tmp_path, name):
    """A speech model's samples are WAV files: `-o s.png` became a folder named s.png."""
    r = run_cli("sample", "-o", tmp_path / name, "-m", speech_model, "-n", "1")
    one_line(r, 1, "speech samples are WAV files")
    assert list(tmp_path.iterdir()) == []
    r = run_cli("sample", "-o", tmp_path / "run.v2", "-m", speech_model, "-n", "1")  # a folder
    assert r.returncode == 0, r.stderr.decode()
    assert (tmp_path / "run.v2" / "sample_0.wav").exists()
