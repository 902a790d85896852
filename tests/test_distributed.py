"""Training on PyTorch's own distributed engine, and exact resumption after a stop."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, TINY_IMAGE, run_cli

pytestmark = pytest.mark.slow  # training / benchmark runs

CFG = json.dumps(TINY_IMAGE)
COMMON = ["--batch", "4", "--crop", "32", "--config", CFG, "--prior-examples", "16", "--device", "cpu"]


@pytest.mark.parametrize("quantizer", ["ema", "nsvq"])
def test_two_process_gloo_run_ends_with_identical_ranks(media, tmp_path, quantizer):
    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
    out = tmp_path / "ddp.safetensors"
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "cli.main", "train", "image",
           "--data", str(media / "img"), "--out", str(out), "--steps", "12", "--prior-steps", "6",
           "--quantizer", quantizer, "-q", *COMMON]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    log = [json.loads(line) for line in (tmp_path / "ddp.safetensors.log.jsonl").read_text().splitlines()]
    dist = [rec for rec in log if rec.get("stage") == "distributed"]
    assert dist and dist[0]["ranks"] == 2 and dist[0]["ranks_identical"] is True
    assert out.exists()


def test_resume_after_a_stop_gives_the_same_model(media, tmp_path):
    # two data-loading processes: the resumed run must continue their batch sequence
    base = ["train", "image", "--data", media / "img", "--steps", "10", "--prior-steps", "6", "-q",
            "--workers", "2", *COMMON]
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    assert run_cli(*base, "--out", a).returncode == 0
    r = run_cli(*base, "--out", b, "--stop-after", "4")
    assert r.returncode == 0 and not b.exists()
    r = run_cli(*base, "--out", b, "--resume", "--stop-after", "9")  # crosses into the prior stage
    assert r.returncode == 0 and not b.exists()
    assert run_cli(*base, "--out", b, "--resume").returncode == 0
    ta, tb = load_file(str(a)), load_file(str(b))
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.allclose(ta[k].float(), tb[k].float(), atol=1e-3), k
