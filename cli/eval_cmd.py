"""`vqcodec eval images|speech`: benchmark the codec against classic codecs on a folder of media.

Registered in cli/main.py (`COMMANDS`) as the `eval` group; `python -m cli.eval_cmd`
runs it alone. Tables go to stdout (or JSON with --json), progress to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import fail, guarded


eval_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                       help="Benchmark the codec against JPEG/WebP/AVIF (images) or Codec2/Opus "
                            "(speech): rate, quality and speed, per file and on average.")


def _check_plot(plot: Optional[str]) -> None:
    """Refuse an unwritable --plot path before minutes of benchmarking, not after."""
    if plot is None:
        return
    if Path(plot).suffix.lower() != ".png":
        fail(f"--plot {plot}: the plot is written as PNG; name it *.png", 1)
    parent = Path(plot).resolve().parent
    if not parent.is_dir():
        fail(f"--plot {plot}: directory {parent} does not exist", 4)


def _stdout():
    """Rich output to stdout; wide when piped, so a saved table keeps one line per row."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def _progress(quiet: bool):
    if quiet:
        return None
    from rich.console import Console

    err = Console(stderr=True)
    return lambda msg: err.print(msg, highlight=False)


def _f(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


@eval_app.command("images")
@guarded
def images(
    directory: str = typer.Argument(..., help="Folder of images (anything Pillow reads)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON to stdout."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Write a rate-distortion plot (PNG)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Image model (default: bundled)."),
    peers: bool = typer.Option(True, "--peers/--no-peers", help="Also run JPEG, WebP and AVIF."),
    curves: bool = typer.Option(True, "--curves/--no-curves", help="Rate-distortion curves: every level of ours, a ladder of settings for each peer, and BD-rates."),
    flat: bool = typer.Option(True, "--flat/--no-flat", help="Flat colours (64 colours, 64x64) at every level: mean absolute error per channel."),
    record: bool = typer.Option(False, "--record", help="Write the measured rate and quality into the model file (what `vqcodec models` shows)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress messages."),
) -> None:
    """Bits per pixel, PSNR, MS-SSIM and speed against JPEG/WebP/AVIF at the same bpp; RD
    curves over every level and the Bjontegaard delta rate against each peer."""
    _check_plot(plot)
    if plot and not curves:
        fail("--plot draws the curves; drop --no-curves", 1)
    from vqcodec.eval.images import evaluate_images, plot_rd

    result = evaluate_images(directory, model, peers=peers, curves=curves, flat=flat,
                             progress=_progress(quiet))
    if record:
        from vqcodec.eval import measured

        _record(model, "image", lambda m: measured.from_images(result, directory))
    if plot:
        plot_rd(result, plot)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    from rich.table import Table

    out = _stdout()
    rows = Table("image", "codec", "q", "bytes", "bpp", "PSNR", "MS-SSIM", "enc s", "dec s",
                 title=f"model {result.model} (load {result.model_load_s:.2f} s)")
    for r in result.rows:
        rows.add_row(r.image, r.codec, _f(r.quality, "d"), str(r.bytes),
                     f"{r.bpp:.4f}" + ("" if r.reached else " (min q)"), f"{r.psnr:.2f}",
                     _f(r.ms_ssim, ".4f"), f"{r.encode_s:.3f}", f"{r.decode_s:.3f}")
    out.print(rows)
    avg = Table("codec", "images", "at our rate", "bpp", "PSNR", "MS-SSIM", "enc s", "dec s",
                "dPSNR at rate", "dMS-SSIM at rate",
                title="averages (d...: peer minus ours, over the images where the peer met our rate)")
    for a in result.averages():
        avg.add_row(a["codec"], str(a["images"]), str(a["reached"]), f"{a['bpp']:.4f}",
                    f"{a['psnr']:.2f}", _f(a["ms_ssim"], ".4f"), f"{a['encode_s']:.3f}",
                    f"{a['decode_s']:.3f}", _f(a.get("d_psnr_at_rate"), "+.2f"),
                    _f(a.get("d_ms_ssim_at_rate"), "+.4f"))
    out.print(avg)
    if result.curves:
        levels = Table("level", "bpp", "PSNR", "MS-SSIM", title="vqcodec at every level (means)")
        for p in result.curves["vqcodec"]:
            levels.add_row(str(p["quality"]), f"{p['bpp']:.4f}", f"{p['psnr']:.2f}", _f(p["ms_ssim"], ".4f"))
        out.print(levels)
        bd = Table("against", "BD-rate PSNR", "BD-rate MS-SSIM",
                   title="Bjontegaard delta rate of vqcodec (negative: fewer bits at equal quality; "
                         "-: the curves do not overlap)")
        for peer, v in result.bd_rates().items():
            bd.add_row(peer, _f(v["psnr"], "+.1f") + ("%" if v["psnr"] is not None else ""),
                       _f(v["ms_ssim"], "+.1f") + ("%" if v["ms_ssim"] is not None else ""))
        out.print(bd)
    if result.flat:
        ft = Table("level", "colours", "mean error", "worst error", "worst colour -> decoded mean",
                   "within 3", title="flat 64x64 colours: mean absolute error per channel (0-255)")
        for f in result.flat:
            ft.add_row(str(f["level"]), str(f["colours"]), f"{f['mean_error']:.2f}",
                       f"{f['worst_error']:.2f}",
                       f"{tuple(f['worst_colour'])} -> {tuple(f['worst_decoded_as'])}",
                       str(f["within_3"]))
        out.print(ft)
    if any(not r.reached for r in result.rows):
        out.print("(min q): the codec's lowest quality setting is still above our bitrate.")
    if any(r.ms_ssim is None for r in result.rows):
        out.print("MS-SSIM -: the image is under 11 pixels on a side (left out of the means).")


def _record(model: Optional[str], kind: str, make) -> None:
    """Write an evaluation's rate and quality into the evaluated model's file."""
    from vqcodec import api
    from vqcodec.models.modelfile import write_info

    m = api.get_model(model, kind)
    write_info(m.path, "measured", make(m))
    print(f"recorded the measurement in {m.path}", file=sys.stderr)


def _stage_list(values: Optional[List[str]], flag: str = "--stages") -> Optional[List[float]]:
    if not values:
        return None
    try:
        got = [float(v) for item in values for v in item.split(",") if v.strip()]
    except ValueError:
        fail(f"{flag} {' '.join(values)}: expected numbers, e.g. {flag} 2 {flag} 2.5", 1)
    return [int(v) if v.is_integer() else v for v in got]  # nan, inf: refused by the range check


@eval_app.command("speech")
@guarded
def speech(
    directory: str = typer.Argument(..., help="Folder of wav/flac/ogg clips (searched recursively)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON to stdout."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Write a quality-vs-bitrate plot (PNG)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Speech model (default: bundled)."),
    stages: Optional[List[str]] = typer.Option(
        None, "--stages", help="Residual VQ stages to test; repeat or comma-separate "
                               "(default: every stage count, 1 to the model's stages)."),
    kbps: Optional[List[str]] = typer.Option(
        None, "--kbps", help="Also code each clip at the most stages that fit these kbit/s "
                             "(`compress --kbps`); repeat or comma-separate."),
    codes: str = typer.Option("auto", "--codes", metavar="SET", help="The model's code set for every clip: auto (as `compress` picks), wideband or telephone."),
    peers: bool = typer.Option(True, "--peers/--no-peers", help="Also run Codec2 and Opus if installed."),
    record: bool = typer.Option(False, "--record", help="Write the measured rate and quality into the model file (what `vqcodec models` shows)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Processes computing PESQ and STOI (default: the idle cores). The codecs run one at a time, so their timings stay fair."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress messages."),
) -> None:
    """Bitrate, PESQ (nb and wb), STOI and real-time factors against Codec2 and Opus."""
    _check_plot(plot)
    if record and codes != "auto":
        fail("--record measures what compress does: not with --codes", 1)
    if jobs is not None and not 1 <= jobs <= 256:
        fail(f"--jobs {jobs} is out of range (1..256)", 1)
    stage_list = _stage_list(stages)
    kbps_list = _stage_list(kbps, "--kbps")
    from vqcodec import threads
    from vqcodec.eval.speech import evaluate_speech, plot_quality

    result = evaluate_speech(directory, model, stage_list, peers=peers, progress=_progress(quiet),
                             jobs=jobs or threads.default_threads(), kbps=kbps_list, codes=codes)
    if record:
        from vqcodec.eval import measured

        _record(model, "speech", lambda m: measured.from_speech(result, directory,
                                                                 m.config.default_stages))
    if plot:
        plot_quality(result, plot)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    from rich.table import Table

    out = _stdout()
    rows = Table("clip", "codec", "s", "bytes", "kbit/s", "PESQ-nb", "PESQ-wb", "STOI",
                 "delay ms", "enc RTF", "dec RTF",
                 title=f"model {result.model} (load {result.model_load_s:.2f} s)")
    for r in result.rows:
        rows.add_row(r.clip, r.codec, f"{r.seconds:.2f}", str(r.bytes), f"{r.kbps:.2f}",
                     _f(r.pesq_nb, ".2f"), _f(r.pesq_wb, ".2f"), _f(r.stoi, ".3f"),
                     f"{r.delay_ms:.1f}", f"{r.encode_rtf:.0f}", f"{r.decode_rtf:.0f}")
    out.print(rows)
    avg = Table("codec", "clips", "kbit/s", "PESQ-nb", "PESQ-wb", "STOI", "delay ms",
                "enc RTF", "dec RTF", title="averages (delay: the fixed delay removed)")
    for a in result.averages():
        avg.add_row(a["codec"], str(a["clips"]), f"{a['kbps']:.2f}", _f(a["pesq_nb"], ".2f"),
                    _f(a["pesq_wb"], ".2f"), _f(a["stoi"], ".3f"), f"{a['delay_ms']:.1f}",
                    f"{a['encode_rtf']:.0f}", f"{a['decode_rtf']:.0f}")
    out.print(avg)
    missing = {a["codec"]: a["pesq_nb_missing"] for a in result.averages() if a["pesq_nb_missing"]}
    if missing:
        out.print(f"PESQ refused some clips (silent or too short): {missing}")


if __name__ == "__main__":
    eval_app()
