"""Whole-process timings of the command line against `python -c "import numpy"`, in one run.

Users run one process per file, so start-up counts as much as the networks. The package is
byte-compiled first, as an installed one is. Every command is run `repeat` times, interleaved
with the numpy baseline so a loaded machine slows both alike; the median wall time of each is
reported with its ratio to the baseline and the targets of issue 14 (start-up commands <= 2x
numpy; photo <= 10x and 1.5 s idle; 10 s speech <= 7x and 1 s).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
# The console script's own body, so a source checkout measures its own code.
VQCODEC = [sys.executable, "-c", "import sys; sys.argv[0] = 'vqcodec'; from cli.main import run; run()"]
BASELINE = "python -c 'import numpy'"

# name -> (max ratio to the numpy import, max seconds on an idle machine or None)
TARGETS = {
    "vqcodec --help": (2, None), "vqcodec info": (2, None), "vqcodec models": (2, None),
    "usage error": (2, None),
    "compress photo 768x512": (10, 1.5), "decompress photo 768x512": (10, 1.5),
    "compress speech 10 s": (7, 1.0), "decompress speech 10 s": (7, 1.0),
}


def _inputs(tmp: Path, photo: Path, speech: Path) -> dict[str, Path]:
    import soundfile as sf

    wave, rate = sf.read(str(speech), dtype="float32", always_2d=True)
    reps = int(np.ceil(10 * rate / len(wave)))
    ten = np.tile(wave, (reps, 1))[: 10 * rate]
    sf.write(str(tmp / "speech10.wav"), ten, rate, subtype="PCM_16")
    files = {"photo": photo, "speech": tmp / "speech10.wav"}
    for key, src in list(files.items()):
        dst = tmp / f"{key}.vqc"
        subprocess.run(VQCODEC + ["compress", "-q", "-f", str(src), "-o", str(dst)], check=True)
        files[key + ".vqc"] = dst
    return files


def commands(f: dict[str, Path], tmp: Path) -> dict[str, list[str]]:
    return {
        BASELINE: [sys.executable, "-c", "import numpy"],
        "vqcodec --help": VQCODEC + ["--help"],
        "vqcodec info": VQCODEC + ["info", str(f["photo.vqc"])],
        "vqcodec models": VQCODEC + ["models"],
        "usage error": VQCODEC + ["compress", "--no-such-option"],
        "compress photo 768x512": VQCODEC + ["compress", "-f", str(f["photo"]), "-o", str(tmp / "p.vqc")],
        "compress photo, no colour map": VQCODEC + ["compress", "-f", str(f["photo"]), "-o",
                                                    str(tmp / "p0.vqc"), "--no-colour-correction"],
        "decompress photo 768x512": VQCODEC + ["decompress", "-f", str(f["photo.vqc"]), "-o", str(tmp / "p.png")],
        "compress speech 10 s": VQCODEC + ["compress", "-f", str(f["speech"]), "-o", str(tmp / "s.vqc")],
        "decompress speech 10 s": VQCODEC + ["decompress", "-f", str(f["speech.vqc"]), "-o", str(tmp / "s.wav")],
    }


def _time(argv: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def _shell_env() -> dict[str, str]:
    """This environment less the OPENBLAS_THREAD_TIMEOUT that this process got from the vqcodec
    entry point (cli/main.py, which marks it with VQCODEC_SET_OPENBLAS_TIMEOUT; a user's own
    value stays): every command runs as from the user's shell, and the baseline is numpy's
    import as that shell runs it (0.06 s slower under load than with the variable set; the
    vqcodec commands set it again themselves)."""
    import os

    ours = os.environ.get("VQCODEC_SET_OPENBLAS_TIMEOUT") == "1"
    drop = {"OPENBLAS_THREAD_TIMEOUT", "VQCODEC_SET_OPENBLAS_TIMEOUT"} if ours else set()
    return {k: v for k, v in os.environ.items() if k not in drop}


def _compile_bytecode() -> None:
    """Byte-compile vqcodec and cli as `pip install` does, so a source checkout (or a shell with
    PYTHONDONTWRITEBYTECODE set) is not charged for compiling them in every process."""
    import compileall

    import cli
    import vqcodec

    for pkg in (vqcodec, cli):
        compileall.compile_dir(Path(pkg.__file__).parent, quiet=1)


def run(repeat: int = 5, photo: Path | None = None, speech: Path | None = None) -> dict:
    """Median seconds per command, ratios to the numpy import, and whether each target holds."""
    import os

    _compile_bytecode()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = _inputs(tmp, photo or SAMPLES / "photo.png", speech or SAMPLES / "speech.wav")
        cmds = commands(files, tmp)
        times: dict[str, list[float]] = {k: [] for k in cmds}
        env = _shell_env()
        for _ in range(repeat):
            for name, argv in cmds.items():  # interleaved: each round sees the same load
                if name != BASELINE:
                    times[BASELINE].append(_time(cmds[BASELINE], env))
                times[name].append(_time(argv, env))
    base = statistics.median(times[BASELINE])
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        row = {"command": name, "median_s": round(med, 3), "worst_s": round(max(ts), 3),
               "x_numpy": round(med / base, 2)}
        ratio, secs = TARGETS.get(name, (None, None))
        row["target"] = (f"<= {ratio}x" + (f", <= {secs} s idle" if secs else "")) if ratio else ""
        row["ratio_ok"] = (med / base <= ratio) if ratio else ""
        rows.append(row)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"repeat": repeat, "numpy_import_s": round(base, 3), "load_average": load,
            "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "rows": rows}
