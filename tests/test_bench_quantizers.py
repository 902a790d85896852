"""The quantizer benchmark: every task and quantizer measured, with finite numbers and a plot."""

import pytest
import math

import torch

from vqcodec.tools.bench_quantizers import QUANTIZERS, TASKS, markdown_table, plot_curves, run_benchmark

pytestmark = pytest.mark.slow  # training / benchmark runs


def test_benchmark_measures_every_quantizer_on_both_tasks(media, tmp_path):
    torch.set_num_threads(1)
    result = run_benchmark(media / "img", media / "sp", seeds=(0,), steps=5, quick=True,
                           points=5, progress=lambda *a: None)
    for task in TASKS:
        assert set(result["summary"][task]) == set(QUANTIZERS)
        for q in QUANTIZERS:
            s = result["summary"][task][q]
            for metric in ("quality", "rec", "qmse", "rel_qerr", "perplexity", "dead", "cb_align"):
                assert math.isfinite(s[metric]["mean"]), (task, q, metric)
            assert s["perplexity"]["mean"] >= 1
            assert len(result["curves"][task][q]["rec"]["mean"]) == 5
    assert "| image | nsvq |" in markdown_table(result)
    plot_curves(result, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
