"""Thread pools are decided in one place, whatever the environment says."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

PROBE = ("import json, sys, numpy; from vqcodec import threads; "
         "n = threads.configure(int(sys.argv[1]) if len(sys.argv) > 1 else None); "
         "from threadpoolctl import threadpool_info; "
         "print(json.dumps([n, sorted({i['num_threads'] for i in threadpool_info() "
         "if i['user_api'] == 'blas'})]))")


def _probe(env: dict, *args: str) -> tuple[int, list[int]]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True,
                         env={**os.environ, **env}, check=True).stdout
    return tuple(json.loads(out))


@pytest.mark.parametrize("env", [{}, {"OPENBLAS_NUM_THREADS": "1"}, {"OPENBLAS_NUM_THREADS": "7"},
                                 {"OMP_NUM_THREADS": "5"}])
def test_threads_override_the_environment(env):
    assert _probe(env, "2") == (2, [2])


def test_default_threads_never_exceed_the_cores():
    from vqcodec.threads import available_cores

    n, blas = _probe({"OPENBLAS_NUM_THREADS": "16"})
    assert 1 <= n <= available_cores() and blas == [n]
