"Shared fixtures: where the real data lives, and how to run the CLIs as a user does."
import contextlib, json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.error, urllib.request
from contextlib import contextmanager
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
if os.environ.get('PYTEST_XDIST_WORKER'):   # `pytest -n N`: N test processes share the cores, so each (and every CLI it starts) uses one
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = '1'   # thread: N x all-core trainings would oversubscribe them
from defect_qc.fixtures import REAL_DATA_MISSING, real_data_root
REAL_DATA = real_data_root()   # $DEFECT_QC_REAL_DATA, else ../shared/data/casting_data; None when absent
ARTIFACTS = REPO/'tests'/'artifacts'

# the test files, longest first (seconds on 2 cores under `pytest -n 2`: 190, 100, 55, 55, ... 5). `--dist loadfile` hands a
# worker one file at a time in this order (pyproject's `--no-loadscope-reorder` keeps xdist from sorting them by their number
# of tests instead): the long ones start at once, the short ones fill the end, and no core waits alone at the end
LONGEST_FIRST = ('test_train_cli.py', 'test_train_real.py', 'test_mlflow_server.py', 'test_evaluate_cli.py', 'test_bad_inputs.py',
                 'test_adapt_cli.py', 'test_crash.py', 'test_drift.py', 'test_distributed.py', 'test_tutorial.py', 'test_data_cli.py',
                 'test_review_cli.py', 'test_docs.py', 'test_station.py', 'test_sweep.py', 'test_export.py', 'test_serving.py',
                 'test_predict_cli.py')

def pytest_collection_modifyitems(config, items):
    "Files in `LONGEST_FIRST` order (a new file goes last until it is listed); each file keeps its tests' order."
    items.sort(key=lambda it: LONGEST_FIRST.index(it.path.name) if it.path.name in LONGEST_FIRST else len(LONGEST_FIRST))

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

@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory):
    "A function copying one tiny trained run (`make_tiny_run`, made once per test process) to a new folder: tests may change their copy."
    from defect_qc.fixtures import make_tiny_run
    src = make_tiny_run(tmp_path_factory.mktemp('tiny')/'run')
    return lambda dest: Path(shutil.copytree(src, dest))

def run_dirs(cwd):
    "The run folders that `python -m defect_qc.train` made under `cwd` (Hydra's outputs/DATE/TIME-PID)."
    return sorted(p for p in (Path(cwd)/'outputs').glob('*/*') if p.is_dir())

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

def stop(proc, timeout=30):
    "Stop a server and everything it started with SIGTERM, as a service manager does (SIGKILL after `timeout` s); its exit code."
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try: proc.wait(timeout)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    with contextlib.suppress(ProcessLookupError): os.killpg(proc.pid, signal.SIGKILL)   # what it left behind, if it had exited already
    return proc.returncode

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

# Headless Chromium through the DevTools protocol (the docs test and the station's review page)
CHROMIUM = shutil.which('chromium') or ('/usr/bin/chromium' if Path('/usr/bin/chromium').exists() else None)
CHROMIUM_MISSING = "chromium is not installed (apt-get install chromium); CI installs it"

class CDP:
    "A minimal Chrome DevTools Protocol client over one page target's websocket."
    def __init__(self, ws_url):
        import websocket  # websocket-client
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.n, self.events = 0, []

    def send(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({'id': self.n, 'method': method, 'params': params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get('id') == self.n:
                if 'error' in msg: raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get('result', {})
            self.events.append(msg)

    def wait_for(self, method, timeout=60):
        "Wait for event `method` (already received or upcoming)."
        deadline = time.monotonic() + timeout
        while not any(e.get('method') == method for e in self.events):
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.ws.recv()))
        self.ws.settimeout(60)

    def drain(self, quiet=1.0, limit=15):
        "Collect events until none arrives for `quiet` seconds (late console messages, image decoding)."
        import websocket
        end = time.monotonic() + limit
        self.ws.settimeout(quiet)
        try:
            while time.monotonic() < end: self.events.append(json.loads(self.ws.recv()))
        except websocket.WebSocketTimeoutException: pass
        finally: self.ws.settimeout(60)

    def eval(self, expr):
        r = self.send('Runtime.evaluate', expression=expr, returnByValue=True)
        if 'exceptionDetails' in r: raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r['result'].get('value')

    def close(self): self.ws.close()

def browser_errors(events):
    "Console errors, uncaught exceptions, browser log errors and failed/4xx/5xx requests, as readable lines."
    res = []
    for e in events:
        m, p = e.get('method'), e.get('params', {})
        if m == 'Runtime.consoleAPICalled' and p.get('type') in ('error', 'assert'):
            res.append('console.%s: %s' % (p['type'], ' '.join(str(a.get('value', a.get('description', ''))) for a in p.get('args', []))))
        elif m == 'Runtime.exceptionThrown':
            d = p.get('exceptionDetails', {})
            res.append(f"exception: {d.get('text')} {d.get('exception', {}).get('description', '')}")
        elif m == 'Log.entryAdded' and p['entry'].get('level') == 'error':
            res.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        elif m == 'Network.loadingFailed':
            res.append(f"request failed: {p.get('errorText')} ({p.get('type')})")
        elif m == 'Network.responseReceived' and p['response'].get('status', 200) >= 400:
            res.append(f"HTTP {p['response']['status']}: {p['response'].get('url')}")
    return res

@contextlib.contextmanager
def chromium():
    "Headless Chromium with a fresh profile; yields a CDP client on its page; always stopped."
    prof = Path(tempfile.mkdtemp(prefix='chromium-'))
    args = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
            f'--user-data-dir={prof}', '--remote-debugging-port=0', '--window-size=1280,900', 'about:blank']
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    cdp = None
    try:
        port_file, deadline = prof/'DevToolsActivePort', time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None: pytest.fail(f"chromium exited ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline: pytest.fail("chromium did not open its DevTools port within 60 s")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list', timeout=30))
        page = next(t for t in targets if t['type'] == 'page')
        cdp = CDP(page['webSocketDebuggerUrl'])
        for d in ('Page', 'Runtime', 'Log', 'Network'): cdp.send(f'{d}.enable')
        yield cdp
    finally:
        if cdp is not None:
            with contextlib.suppress(Exception): cdp.close()
        proc.terminate()
        try: proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9); proc.wait(15)
        shutil.rmtree(prof, ignore_errors=True)

def load_page(cdp, url):
    "Navigate, wait for the load event and a quiet second; returns the errors seen."
    cdp.events.clear()
    cdp.send('Page.navigate', url=url)
    cdp.wait_for('Page.loadEventFired')
    cdp.drain()
    return browser_errors(cdp.events)
