"""Committed streams must keep decoding to the same indices: a change that breaks existing
files fails here. Regenerate deliberately with tests/golden/make_golden.py."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import OTHER_CPU, run_cli

GOLDEN = Path(__file__).parent / "golden"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())


@pytest.mark.parametrize("kind, model", [("image", "tiny-image"), ("speech", "tiny-speech")])
@pytest.mark.parametrize("env", [None, OTHER_CPU], ids=["this-cpu", "imitated-cpu"])
def test_golden_stream_decodes_to_committed_checksum(kind, model, env, tmp_path):
    out = tmp_path / "idx.npy"
    r = run_cli("decompress", GOLDEN / f"{kind}.vqc", "--model", GOLDEN / f"{model}.safetensors",
                "--indices", out, env=env)
    assert r.returncode == 0, r.stderr
    idx = np.load(out)
    assert list(idx.shape) == EXPECTED[kind]["shape"]
    assert hashlib.sha256(idx.astype("<i8").tobytes()).hexdigest() == EXPECTED[kind]["sha256"]


def test_golden_streams_also_decode_to_media(tmp_path):
    for kind, model, suffix in (("image", "tiny-image", ".png"), ("speech", "tiny-speech", ".wav")):
        r = run_cli("decompress", GOLDEN / f"{kind}.vqc", "--model", GOLDEN / f"{model}.safetensors",
                    "-o", tmp_path / f"out{suffix}")
        assert r.returncode == 0, r.stderr
