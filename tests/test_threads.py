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


@pytest.mark.parametrize("load, runnable, busy", [(1.3, 0, 0), (1.3, 1, 1), (1.3, 5, 1),
                                                  (0.4, 3, 0), (2.2, None, 2)])
def test_busy_cores_is_the_load_average_capped_by_the_tasks_runnable_now(monkeypatch, load,
                                                                         runnable, busy):
    """A finished run leaves the 1-minute load average up for a minute or more: the next
    command counts a core busy only while something else is runnable."""
    from vqcodec import threads

    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(threads, "runnable_elsewhere", lambda: runnable)
    assert threads.busy_cores() == busy
    assert threads.default_threads() == max(1, threads.available_cores() - busy)


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="Linux's /proc/loadavg")
def test_runnable_elsewhere_does_not_count_this_process():
    from vqcodec.threads import runnable_elsewhere

    n = runnable_elsewhere()
    assert isinstance(n, int) and 0 <= n < 10_000


def test_the_entry_point_shortens_openblas_spinning_before_numpy_loads():
    """OpenBLAS reads OPENBLAS_THREAD_TIMEOUT when numpy is first imported, which only the
    commands do: the entry point sets it first (2**20 cycles), unless the user has."""
    code = ("import os, sys; sys.argv = ['vqcodec', 'models']\n"
            "import cli.main\n"
            "assert 'numpy' not in sys.modules\n"
            "try:\n    cli.main.run()\nexcept SystemExit:\n    pass\n"
            "print(os.environ['OPENBLAS_THREAD_TIMEOUT'])\n")
    for env, want in (({}, "20"), ({"OPENBLAS_THREAD_TIMEOUT": "28"}, "28")):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"} | env
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[-1] == want


@pytest.mark.parametrize("user, kept", [(None, None), ("28", "28")])
def test_bench_cli_runs_its_commands_with_the_users_openblas_setting(monkeypatch, user, kept):
    """The entry point's own OPENBLAS_THREAD_TIMEOUT is left out of `bench cli`'s children (they
    run as from the shell); a value the user set is theirs and stays."""
    from vqcodec.tools.bench_cli import _shell_env

    for k in ("OPENBLAS_THREAD_TIMEOUT", "VQCODEC_SET_OPENBLAS_TIMEOUT"):
        monkeypatch.delenv(k, raising=False)
    if user is None:
        monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "20")  # as cli.main.run sets it
        monkeypatch.setenv("VQCODEC_SET_OPENBLAS_TIMEOUT", "1")
    else:
        monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", user)
    env = _shell_env()
    assert env.get("OPENBLAS_THREAD_TIMEOUT") == kept
    assert "VQCODEC_SET_OPENBLAS_TIMEOUT" not in env
