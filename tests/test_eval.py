"""`vqcodec eval images|speech`: real rates, rate-matched peers, metric ranges, delay removal."""

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, make_speechlike, run_cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_eval(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    """The eval sub-application in a subprocess (works before cli/main.py registers it)."""
    return subprocess.run([sys.executable, "-m", "cli.eval_cmd", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def subset(files, n: int, dst):
    """The first `n` files copied to `dst`: enough to test on, few enough to stay fast."""
    dst.mkdir(parents=True)
    for f in sorted(files)[:n]:
        shutil.copy(f, dst / f.name)
    return dst


@pytest.fixture(scope="module")
def image_run(image_model, media, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    folder = subset((media / "img").glob("*.png"), 3, tmp / "img")
    r = run_eval("images", folder, "--json", "--model", image_model, "--plot", tmp / "rd.png", "-q")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), tmp / "rd.png"


@pytest.fixture(scope="module")
def speech_run(speech_model, media, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    subset((media / "sp").glob("*.wav"), 2, tmp / "sp" / "nested")  # found by recursive search
    r = run_eval("speech", tmp / "sp", "--json", "--model", speech_model, "--plot",
                 tmp / "speech.png", "-q")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), tmp / "speech.png"


# -- images -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_image_bpp_is_the_real_compressed_size_over_the_pixels(image_run, image_model, media):
    from vqcodec import api

    result, _ = image_run
    ours = [r for r in result["rows"] if r["codec"] == "vqcodec"]
    assert [r["image"] for r in ours] == ["0.png", "1.png", "2.png"]
    for row in ours:
        size = len(api.compress(media / "img" / row["image"], image_model))
        assert row["bytes"] == size
        assert row["bpp"] == pytest.approx(size * 8 / (160 * 128))
        assert 5 < row["psnr"] < 100 and 0 < row["ms_ssim"] <= 1
        assert row["encode_s"] > 0 and row["decode_s"] > 0


@pytest.mark.slow
def test_peers_sit_at_our_rate_or_are_flagged_at_their_lowest_setting(image_run, media):
    from vqcodec.eval.images import JPEG, WEBP, pil_encode
    from vqcodec.media import read_image

    result, _ = image_run
    ours = {r["image"]: r["bytes"] for r in result["rows"] if r["codec"] == "vqcodec"}
    for peer in (JPEG, WEBP):
        rows = [r for r in result["rows"] if r["codec"] == peer.name]
        assert len(rows) == len(ours)
        for row in rows:
            rgb = np.array(read_image(str(media / "img" / row["image"]))[0])
            size = lambda q: len(pil_encode(rgb, peer, q)[0])  # noqa: E731
            target, q = ours[row["image"]], row["quality"]
            assert row["bytes"] == size(q)
            assert row["reached"] == (size(peer.min_quality) <= target)
            if not row["reached"]:
                assert q == peer.min_quality and row["bpp"] > ours[row["image"]] * 8 / (160 * 128)
                continue
            for other in (q - 1, q + 1):  # no neighbouring setting is closer to our size
                if peer.min_quality <= other <= 100:
                    assert abs(row["bytes"] - target) <= abs(size(other) - target)


@pytest.mark.slow
def test_image_averages_cover_every_codec_and_the_plot_is_a_png(image_run):
    result, plot = image_run
    avgs = {a["codec"]: a for a in result["averages"]}
    assert set(avgs) == {"vqcodec", *result["peers"]}
    ours = [r["bpp"] for r in result["rows"] if r["codec"] == "vqcodec"]
    assert avgs["vqcodec"]["bpp"] == pytest.approx(sum(ours) / len(ours))
    assert result["model_load_s"] > 0
    for name in result["peers"]:
        assert len(result["curves"][name]) >= 5
        met = [r for r in result["rows"] if r["codec"] == name and r["reached"]]
        ours = {r["image"]: r["psnr"] for r in result["rows"] if r["codec"] == "vqcodec"}
        if met:  # the paired difference counts only the images where the peer met our rate
            want = sum(r["psnr"] - ours[r["image"]] for r in met) / len(met)
            assert avgs[name]["d_psnr_at_rate"] == pytest.approx(want)
        else:
            assert avgs[name]["d_psnr_at_rate"] is None
    assert plot.read_bytes()[:8] == PNG_MAGIC


def test_identical_images_have_infinite_psnr_and_unit_ms_ssim():
    from vqcodec.eval.metrics import ms_ssim, psnr

    rgb = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    assert psnr(rgb, rgb) == math.inf
    assert ms_ssim(rgb, rgb) == pytest.approx(1.0)
    assert psnr(rgb, 255 - rgb) < 10


def test_ms_ssim_is_missing_for_an_image_under_its_window():
    from vqcodec.eval.metrics import SSIM_WINDOW, ms_ssim

    rgb = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    assert ms_ssim(rgb[:10, :30], rgb[:10, :30]) is None
    assert ms_ssim(rgb[:30, :SSIM_WINDOW - 1], rgb[:30, :SSIM_WINDOW - 1]) is None
    assert ms_ssim(rgb[:SSIM_WINDOW, :SSIM_WINDOW], rgb[:SSIM_WINDOW, :SSIM_WINDOW]) == pytest.approx(1.0)


def test_eval_of_images_under_eleven_pixels_finishes_with_ms_ssim_missing(image_model, tmp_path):
    """A 7x9 image has no MS-SSIM: "-" in the tables, null in JSON, left out of the means (and
    counted); the 24x20 image beside it is measured as usual."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, shape in (("a.png", (7, 9, 3)), ("b.png", (24, 20, 3))):
        Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8)).save(tmp_path / name)
    r = run_cli("eval", "images", tmp_path, "--json", "-m", image_model, "--no-flat", "-q")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    rows = {(row["image"], row["codec"]): row for row in result["rows"]}
    assert rows["a.png", "vqcodec"]["ms_ssim"] is None and rows["a.png", "JPEG"]["ms_ssim"] is None
    small = rows["b.png", "vqcodec"]["ms_ssim"]
    assert 0 < small <= 1
    ours = next(a for a in result["averages"] if a["codec"] == "vqcodec")
    assert ours["ms_ssim"] == pytest.approx(small) and ours["ms_ssim_missing"] == 1
    assert result["curves"]["vqcodec"][0]["ms_ssim"] == pytest.approx(small)
    r = run_cli("eval", "images", tmp_path, "-m", image_model, "--no-flat", "--no-curves", "-q")
    assert r.returncode == 0, r.stderr
    assert b"MS-SSIM -: the image is under 11 pixels on a side" in r.stdout


def test_json_has_no_infinities_even_for_a_lossless_result():
    from vqcodec.eval.images import ImageEval, ImageRow

    row = ImageRow("a.png", "vqcodec", 8, 8, 10, 1.25, math.inf, 1.0, 0.1, 0.1)
    data = ImageEval("m", 0.1, 0.1, [], [row]).to_dict()
    assert data["rows"][0]["psnr"] is None
    json.dumps(data, allow_nan=False)


def test_a_rate_below_jpegs_lowest_setting_is_flagged():
    from vqcodec.eval.images import JPEG, match_rate

    rgb = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    q, data, _, reached = match_rate(rgb, JPEG, 50)
    assert (q, reached) == (1, False) and len(data) > 50


def test_eval_is_a_subcommand_of_the_main_cli():
    r = run_cli("eval", "speech", "--help")
    assert r.returncode == 0, r.stderr
    assert b"--stages" in r.stdout and b"--plot" in r.stdout and b"--json" in r.stdout


def test_missing_folder_is_a_one_line_error():
    r = run_eval("images", ROOT / "no-such-folder", "--json")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "not a directory" in r.stderr


# -- speech -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_speech_bitrate_is_the_real_compressed_size_over_the_duration(speech_run, speech_model, media):
    from vqcodec import api

    result, _ = speech_run
    assert result["stages"] == [1, 2]  # by default every stage count of the tiny 2-stage model
    ours = [r for r in result["rows"] if r["codec"] == "vqcodec 2st"]
    assert [r["clip"] for r in ours] == ["nested/0.wav", "nested/1.wav"]
    for row in ours:
        size = len(api.compress(media / "sp" / row["clip"].split("/")[-1], speech_model, stages=2))
        assert row["bytes"] == size
        assert row["seconds"] == pytest.approx(3.0)
        assert row["kbps"] == pytest.approx(size * 8 / 3.0 / 1000)
        assert row["encode_rtf"] > 0 and row["decode_rtf"] > 0


@pytest.mark.slow
def test_speech_scores_are_in_their_ranges(speech_run):
    result, plot = speech_run
    for row in result["rows"]:
        for key, lo, hi in (("pesq_nb", 1.0, 4.65), ("pesq_wb", 1.0, 4.75), ("stoi", 0.0, 1.0)):
            assert row[key] is None or lo <= row[key] <= hi, (row["codec"], key, row[key])
        assert abs(row["delay_ms"]) <= 50
    assert {a["codec"] for a in result["averages"]} == set(result["codecs"])
    assert plot.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.slow
def test_codec2_rows_have_nominal_rates_no_wideband_pesq_and_their_delay_removed(speech_run):
    if not shutil.which("c2enc"):
        pytest.skip("Codec2 (c2enc) is not installed")
    result, _ = speech_run
    nominal = {"3200": 3.2, "1600": 1.6, "1300": 1.3, "1200": 1.2, "700C": 0.7}
    for mode, kbps in nominal.items():
        rows = [r for r in result["rows"] if r["codec"] == f"Codec2 {mode}"]
        assert len(rows) == 2
        for row in rows:
            assert row["kbps"] == pytest.approx(kbps, rel=0.15)  # raw .bit file, whole frames
            assert row["pesq_wb"] is None and row["pesq_nb"] is not None
        assert 2 <= result["delays_ms"][f"Codec2 {mode}"] <= 50  # codec2 has a real delay


@pytest.mark.slow
def test_opus_rows_use_the_opus_file_size(speech_run):
    if not shutil.which("opusenc"):
        pytest.skip("Opus tools (opusenc) are not installed")
    result, _ = speech_run
    rows = [r for r in result["rows"] if r["codec"] == "Opus 6k"]
    assert len(rows) == 2
    for row in rows:
        assert row["kbps"] >= 6 * 0.8  # Ogg pages and tags only add to the 6 kbit/s payload
        assert row["stoi"] is not None and abs(result["delays_ms"]["Opus 6k"]) < 5


@pytest.mark.slow
def test_speech_metrics_in_several_processes_equal_those_in_one(speech_model, media, tmp_path):
    from vqcodec.eval.speech import evaluate_speech

    folder = subset((media / "sp").glob("*.wav"), 3, tmp_path / "sp")
    runs = [evaluate_speech(folder, speech_model, [1, 2], peers=False, jobs=jobs).to_dict()
            for jobs in (1, 2)]
    timing = ("encode_rtf", "decode_rtf")
    rows = [[{k: v for k, v in r.items() if k not in timing} for r in run["rows"]] for run in runs]
    assert len(rows[0]) == 6 and rows[0] == rows[1]
    assert all(r["pesq_nb"] is not None for r in rows[0])
    assert runs[0]["delays_ms"] == runs[1]["delays_ms"]


@pytest.mark.slow
def test_jobs_out_of_range_is_a_usage_error(media):
    r = run_eval("speech", media / "sp", "--jobs", "0", "--no-peers")
    assert r.returncode == 1 and "--jobs 0" in r.stderr and r.stderr.count("\n") == 1, r.stderr


@pytest.mark.parametrize("shift", [37, -80, 0])
def test_delay_estimate_finds_a_known_shift(shift):
    from vqcodec.eval.speech_metrics import align, estimate_delay

    x = make_speechlike(2.0, 16000, seed=5)
    y = np.roll(x, shift)
    d = estimate_delay(x, y, 16000)
    assert abs(d - shift) <= 2
    ref, deg = align(x, y, d)
    assert len(ref) == len(deg) and np.corrcoef(ref[200:-200], deg[200:-200])[0, 1] > 0.95



def test_a_negative_stoi_is_a_score_not_a_missing_clip():
    """pystoi returns exactly 1e-5 when a clip has too few speech frames (undefined: None);
    a real score at or below zero (speech against its time reversal: about -0.04) is kept,
    or a codec that garbles a clip would have it left out of its mean."""
    import soundfile as sf

    from vqcodec.eval.speech_metrics import stoi_score

    x, rate = sf.read(str(ROOT / "samples" / "speech.wav"), dtype="float32")
    score = stoi_score(x, x[::-1].copy(), rate)
    assert score is not None and score < 0
    assert stoi_score(x[:3000], x[:3000], rate) is None  # too few frames

@pytest.mark.slow
@pytest.mark.parametrize("stages", ["7", "nan", "inf", "0.5", "two"])
def test_stages_out_of_range_is_a_usage_error(speech_model, media, stages):
    r = run_eval("speech", media / "sp", "--model", speech_model, "--stages", stages, "--no-peers")
    assert r.returncode == 1 and "stages" in r.stderr and r.stderr.count("\n") == 1, r.stderr


# -- Bjontegaard delta rate --------------------------------------------------------------------
def test_bd_rate_of_the_same_curve_at_eight_tenths_of_the_rate_is_minus_twenty_percent():
    from vqcodec.eval.bdrate import bd_rate

    anchor = [(r, 20 + 6 * math.log2(r) + 0.3 * math.sin(r)) for r in (0.1, 0.2, 0.4, 0.8, 1.6)]
    test = [(0.8 * r, q) for r, q in anchor]
    assert bd_rate(anchor, test) == pytest.approx(-20.0, abs=1e-9)
    assert bd_rate(test, anchor) == pytest.approx(25.0, abs=1e-9)
    assert bd_rate(anchor, anchor) == pytest.approx(0.0, abs=1e-12)


def test_bd_rate_needs_overlapping_quality():
    from vqcodec.eval.bdrate import bd_rate

    assert bd_rate([(0.1, 20), (0.2, 22)], [(0.5, 30), (1.0, 33)]) is None
    assert bd_rate([(0.1, 20)], [(0.1, 20), (0.2, 22)]) is None



@pytest.mark.parametrize("anchor, test, expected", [
    # partly overlapping: only PSNR 32..37 counts
    ([(0.1, 28), (0.2, 31), (0.4, 34), (0.8, 37)], [(0.15, 32), (0.3, 35), (0.6, 38), (1.2, 41)],
     -40.47246055119253),
    # quality dips at 0.3 (taken in quality order, log rate then not monotone)
    ([(0.1, 30), (0.2, 32.5), (0.3, 32), (0.5, 35), (0.9, 38)],
     [(0.09, 30.5), (0.2, 33), (0.45, 36), (0.8, 38.5)], -32.199594871144924),
    # rate not monotone at the low end, and a repeated point
    ([(0.12, 25), (0.11, 26), (0.15, 28), (0.3, 31), (0.6, 35), (0.6, 35)],
     [(0.08, 26), (0.15, 29), (0.3, 32.5), (0.7, 36)], -21.501228829413034),
])
def test_bd_rate_matches_an_independent_pchip(anchor, test, expected):
    """Values from an independent re-derivation of the JVET CTC method (MATLAB/Fritsch-Carlson
    pchip slopes with the three-point ends, exact integration of the Hermite cubics over the
    common quality range); the `bjontegaard` package (pchip) gives the same to 1e-13 (given
    the points in quality order and without the repeated one, which it refuses)."""
    from vqcodec.eval.bdrate import bd_rate

    assert bd_rate(anchor, test) == pytest.approx(expected, abs=1e-9)

def test_flat_colours_are_checked_at_every_level(image_run, image_model):
    from vqcodec import api
    from vqcodec.models.modelfile import load_model

    data, _ = image_run
    flat = data["flat_colours"]
    assert [f["level"] for f in flat] == list(range(1, load_model(image_model).config.stages + 1))
    for f in flat:
        assert f["colours"] == 64 and 0 <= f["mean_error"] <= f["worst_error"]
        assert 0 <= f["within_3"] <= 64
        c = np.array(f["worst_colour"], dtype=np.uint8)  # the worst colour, measured again
        stream = api.compress(np.broadcast_to(c, (64, 64, 3)).copy(), image_model, quality=f["level"])
        out = api.decompress(stream, image_model)
        assert np.abs(out.astype(float) - c).mean() == pytest.approx(f["worst_error"])


@pytest.mark.slow
def test_kbps_rows_fit_their_budget_or_fall_back_to_one_stage(speech_model, media, tmp_path):
    from vqcodec.eval.speech import evaluate_speech, kbps_name, ours_name

    subset((media / "sp").glob("*.wav"), 2, tmp_path / "sp")
    run = evaluate_speech(tmp_path / "sp", speech_model, [1, 2], peers=False, kbps=[0.05, 1.0])
    rows = {(r.codec, r.clip): r for r in run.rows}
    for clip in {r.clip for r in run.rows}:
        fit, one, two = (rows[(c, clip)] for c in (kbps_name(1.0), ours_name(1), ours_name(2)))
        assert fit.bytes * 8 <= 1.0 * 1000 * fit.seconds or fit.bytes == one.bytes
        assert one.bytes <= fit.bytes <= two.bytes
        assert rows[(kbps_name(0.05), clip)].bytes == one.bytes  # nothing fits: one stage


@pytest.mark.slow
@pytest.mark.parametrize("kbps", ["0", "nan", "-1", "fast"])
def test_kbps_out_of_range_is_a_usage_error(speech_model, media, kbps):
    r = run_eval("speech", media / "sp", "--model", speech_model, "--kbps", kbps, "--no-peers")
    assert r.returncode == 1 and "kbps" in r.stderr and r.stderr.count("\n") == 1, r.stderr
