"""The "measured" rate and quality a model file carries: made only from an evaluation run.

`vqcodec eval images DIR --record` and `vqcodec eval speech DIR --record` evaluate a model and
write these strings into its file (models.modelfile.write_info); `vqcodec models` shows them.
"""

from __future__ import annotations

from datetime import date

RECORDED_BY = "vqcodec eval --record"  # the mark `vqcodec models` trusts


def from_images(result, directory: str) -> dict:
    """Rate and quality strings from an ImageEval (our codec's means over its images)."""
    from .images import OURS

    ours = next(a for a in result.averages() if a["codec"] == OURS)
    rate = f"{ours['bpp']:.3f} bpp (mean of {ours['images']})"
    levels = result.curves.get(OURS, [])
    if len(levels) > 1:  # the default level's rate, then every level's
        rate += f"; levels 1-{len(levels)}: " + ", ".join(f"{p['bpp']:.2f}" for p in levels)
    return {"rate": rate,
            "quality": f"PSNR {ours['psnr']:.1f} dB, MS-SSIM "
                       + ("n/a" if ours["ms_ssim"] is None else f"{ours['ms_ssim']:.3f}"),
            "source": f"vqcodec eval images {directory} --record", "date": date.today().isoformat(),
            "recorded_by": RECORDED_BY}


def from_speech(result, directory: str, default_stages: int) -> dict:
    """Rate and quality strings from a SpeechEval at the model's default (DEFAULT_NAME where
    its code sets have different defaults, else its default stage count; all measured stage
    counts are listed in the rate)."""
    from .speech import DEFAULT_NAME, ours_name

    avgs = {a["codec"]: a for a in result.averages()}
    ours = (avgs.get(DEFAULT_NAME) or avgs.get(ours_name(default_stages))
            or avgs[ours_name(result.stages[0])])
    rates = ", ".join(f"{avgs[ours_name(s)]['kbps_pooled']:.2f} kbit/s with {s}"
                      for s in result.stages if ours_name(s) in avgs)
    rates += " stages"
    if DEFAULT_NAME in avgs:  # each code set at its own default
        rates += f", {avgs[DEFAULT_NAME]['kbps_pooled']:.2f} kbit/s by default"
    q = [f"PESQ-nb {ours['pesq_nb']:.2f}" if ours["pesq_nb"] is not None else None,
         f"STOI {ours['stoi']:.2f}" if ours["stoi"] is not None else None]
    return {"rate": rates, "quality": ", ".join(x for x in q if x) +
            f" ({ours['codec']}, {ours['clips']} clips)",
            "source": f"vqcodec eval speech {directory} --record", "date": date.today().isoformat(),
            "recorded_by": RECORDED_BY}
