"Shared fixtures: where the real data lives, and how to run the CLIs as a user does."
import json, os, signal, socket, subprocess, sys, time, urllib.error, urllib.request
from contextlib import contextmanager
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
from defect_qc.fixtures import REAL_DATA_MISSING, real_data_root
REAL_DATA = real_data_root()   # $DEFECT_QC_REAL_DATA, else ../shared/data/casting_data; None when absent
ARTIFACTS = REPO/'tests'/'artifacts'

def run_cli(*args, cwd=None, env=None, timeout=900):
    "Run `python -m ...` as a user would; returns the CompletedProcess (text output)."
    e = {**os.environ, **(env or {})}
    e.pop('IN_TEST', None)
    return subprocess.run([sys.executable, '-m', *map(str, args)], cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)

@pytest.fixture
def real_data():
    "The real casting train split, or skip with the reason."
    if REAL_DATA is None: pytest.skip(REAL_DATA_MISSING)
    return REAL_DATA

@pytest.fixture(scope='session')
def cache_dir(tmp_path_factory):
    "One image cache for the whole test session."
    return tmp_path_factory.mktemp('cache')

def real_subset(dest, n_per_class, seed=0):
    "Symlink a random subset of the real train split (n per class) into `dest/train/`."
    import random
    rng = random.Random(seed)
    for d in ('ok_front', 'def_front'):
        files = sorted((REAL_DATA/'train'/d).glob('*.jpeg'))
        (dest/'train'/d).mkdir(parents=True, exist_ok=True)
        for f in rng.sample(files, n_per_class): (dest/'train'/d/f.name).symlink_to(f)
    return dest

# servers on loopback (a real MLflow tracking server, a real `mlflow models serve`)
def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def wait_http(url, proc, timeout=120):
    "Poll `url` until it answers 200; fail early if the process died."
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: raise RuntimeError(f"server exited with {proc.returncode}: {proc.stdout.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200: return
        except OSError: time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout}s")

def start(cmd, env=None, log=None):
    "Start a server in its own process group, output to a log file."
    return subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=open(log, 'w+'), stderr=subprocess.STDOUT, start_new_session=True)

def stop(proc):
    "Stop a server and everything it started."
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try: proc.wait(20)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()

@contextmanager
def served(model_uri, log, env=None):
    "`mlflow models serve` of `model_uri` on a free loopback port; yields the base URL."
    port = free_port()
    srv = start([sys.executable, '-m', 'mlflow', 'models', 'serve', '-m', model_uri, '--env-manager', 'local',
                 '-h', '127.0.0.1', '-p', str(port)], env=env, log=log)
    srv.stdout = open(log)
    try:
        wait_http(f'http://127.0.0.1:{port}/ping', srv, timeout=180)
        yield f'http://127.0.0.1:{port}'
    finally: stop(srv)

def post(url, body, timeout=60):
    "POST a JSON body (a dict, or a str sent as is); returns (HTTP status, reply text)."
    data = (body if isinstance(body, str) else json.dumps(body)).encode()
    req = urllib.request.Request(url, data, {'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r: return r.status, r.read().decode()
    except urllib.error.HTTPError as e: return e.code, e.read().decode()
