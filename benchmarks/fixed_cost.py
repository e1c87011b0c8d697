"""The fixed cost of a training run: what a warm run spends outside its epochs, whole and by phase, against the goal (15 s).

    python benchmarks/fixed_cost.py [DATA_ROOT] [--out DIR] [--naive-batches 16] [-- extra overrides...]
    python benchmarks/fixed_cost.py [DATA_ROOT] --baseline COMMIT [--pairs 5]

1. Whole processes, as a user runs them: `python -m defect_qc.train data.path=DATA_ROOT num_epochs=N
   early_stopping.enabled=false checkpoint.validate_from=0` (every epoch validated, as goal 2 counts it) for N = 1 and 3,
   twice each (the faster counts), after a first run that fills the image cache, so that all are warm. The marginal
   epoch is (t(3) - t(1)) / 2; the fixed cost is t(1) minus that epoch.
2. Where it goes: `import defect_qc.train` timed in a fresh process, then two 1-epoch runs of `defect_qc.train.train`
   in this process with each step timed by wrapping it (the package is not changed); the second run is printed, so the
   steps' own imports are paid already, as they are in a process that imported them at start.
3. Issue 23's goal 2 by its own method: the marginal epoch's images/s (training photos over the epoch's seconds,
   validation included) against the naive PyTorch pipeline of `train_speed.py` (per-item PIL decoding, torchvision
   transforms, a plain CNN; its images/s over `--naive-batches` training batches at the run's size, no validation, so
   the ratio is on its side), with and without bf16 as the run trained (`precision=fp32` in the overrides for without).
With `--baseline COMMIT` it compares instead: 1-epoch processes of that commit (a temporary git worktree) and of this
tree, alternating, each timed around `Learner.fit`; the seconds outside it are the fixed cost (the first of each is a
warm-up and not counted).
DATA_ROOT defaults to ../shared/data/casting_data (the real train split) when it is there, else the demo data.
Prints numbers only. Measure on an idle machine: another process on the cores changes every figure.
"""
import argparse, functools, importlib, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STEPS = [   # (module, function, depth): the steps of `train`, and inside them the ones that cost
    ('defect_qc.train', 'check_config', 0), ('defect_qc.train', 'dls_from_config', 0), ('defect_qc.train', 'make_learner', 0),
    ('defect_qc.train', '_fit', 0), ('defect_qc.train', '_evaluate_run', 0), ('defect_qc.train', 'fit_drift', 1),
    ('defect_qc.evaluate', 'report', 1), ('defect_qc.train', '_save_outputs', 0), ('defect_qc.train', '_write_card', 1),
    ('defect_qc.train', '_log_outputs', 1), ('defect_qc.tracking', 'log_model', 1)]

def overrides(data, out, epochs, extra, run_dir=None) -> list:
    "The overrides of every measured run: `epochs` epochs, each validated, no early stop, the benchmark's MLflow store."
    return [f'num_epochs={epochs}', 'early_stopping.enabled=false', 'checkpoint.validate_from=0', *([f'hydra.run.dir={run_dir}'] if run_dir else []),
            f'mlflow.tracking_uri=sqlite:///{Path(out).resolve()}/mlflow.db', *([f'data.path={data}'] if data else []), *extra]

def run_training(cmd, cwd, what='training') -> str:
    "Run one training process; its log, or exit with the log's tail when it fails."
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if r.returncode: sys.exit(f"error: {what} failed (exit {r.returncode}):\n" + '\n'.join((r.stdout + r.stderr).splitlines()[-15:]))
    return r.stdout + r.stderr

def whole_run(data, out, epochs, extra):
    "Seconds of one `python -m defect_qc.train` process (exits with the tail of its log when it fails)."
    d = Path(out)/f'run_{epochs}_{time.monotonic_ns()}'
    t0 = time.perf_counter()
    whole_run.log = run_training([sys.executable, '-m', 'defect_qc.train', *overrides(data, out, epochs, extra, d)], out)
    return time.perf_counter() - t0

DRIVER = """import sys, time, atexit, runpy
t0, fit = time.perf_counter(), [0.]
import fastai.learner as L
f = L.Learner.fit
def timed(self, *a, **k):
    t = time.perf_counter()
    try: return f(self, *a, **k)
    finally: fit[0] += time.perf_counter() - t
L.Learner.fit = timed
atexit.register(lambda: print(f"OUTSIDE_FIT {time.perf_counter() - t0 - fit[0]:.3f}", file=sys.stderr))
sys.argv = ['defect_qc.train', *sys.argv[1:]]
runpy.run_module('defect_qc.train', run_name='__main__', alter_sys=True)"""

def outside_fit(src, data, out, extra):
    "Seconds outside `Learner.fit` of one 1-epoch training process run with the package in folder `src`."
    d = Path(out).resolve()/f'ab_{time.monotonic_ns()}'
    log = run_training([sys.executable, '-c', DRIVER, *overrides(data, out, 1, extra, d)], src, f'training in {src}')   # `-c`: the working folder first on the path
    return float(log.split('OUTSIDE_FIT ')[-1].split()[0])

def compare(ref, data, out, extra, pairs):
    "Print the fixed cost of commit `ref` and of this tree, from alternating processes."
    tree = Path(tempfile.mkdtemp(prefix='baseline_'))/'src'
    subprocess.run(['git', '-C', str(REPO), 'worktree', 'add', '--detach', '-q', str(tree), ref], check=True)
    try:
        ts = {'baseline': [], 'this tree': []}
        for i in range(pairs + 1):
            for k, src in (('baseline', tree), ('this tree', REPO)):
                t = outside_fit(src, data, out, extra)
                if i: ts[k].append(t)
        med = {k: sorted(v)[len(v)//2] for k, v in ts.items()}
        for k, v in ts.items():
            print(f"{k} ({ref if k == 'baseline' else 'working tree'}): outside the epoch {' / '.join(f'{t:.1f}' for t in v)} s, median {med[k]:.1f} s")
        print(f"this tree saves {med['baseline'] - med['this tree']:.1f} s a run (medians, {pairs} alternating pairs)")
    finally: subprocess.run(['git', '-C', str(REPO), 'worktree', 'remove', '--force', str(tree)], check=False)

FRESH = """import time, numpy as np
def touch():
    t = time.perf_counter(); a = np.ones(2**28 // 4, np.float32); return time.perf_counter() - t, a
t1, a = touch(); del a
t2, a = touch(); print(t1, t2)"""

def fresh_memory():
    "Seconds a new process takes to touch 256 MB of new memory, and to touch it again after freeing it (the machine's own speed)."
    return tuple(float(v) for v in subprocess.run([sys.executable, '-c', FRESH], capture_output=True, text=True, check=True).stdout.split())

def import_seconds():
    "Seconds a fresh process takes to import `defect_qc.train` (median of 3)."
    code = 'import time; t = time.perf_counter(); import defect_qc.train; print(time.perf_counter() - t)'
    ts = sorted(float(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout) for _ in range(3))
    return ts[1]

def timed_steps(spent):
    "Wrap every function of `STEPS` so that its seconds add up in `spent`."
    for mod, name, _ in STEPS:
        m = importlib.import_module(mod); f = getattr(m, name)
        @functools.wraps(f)
        def w(*a, _f=f, _k=name, **kw):
            t = time.perf_counter()
            try: return _f(*a, **kw)
            finally: spent[_k] = spent.get(_k, 0.) + time.perf_counter() - t
        setattr(m, name, w)

def in_process_run(data, out, extra, spent):
    "One 1-epoch `train` in this process; its total seconds (the steps' seconds go to `spent`)."
    from defect_qc.config import load_config
    from defect_qc.train import train
    cfg = load_config(overrides(data, out, 1, extra))
    spent.clear(); t0 = time.perf_counter()
    train(cfg, Path(out)/f'inproc_{time.monotonic_ns()}')
    return time.perf_counter() - t0

def speed_up(log, epoch, n_batches, extra):
    "Print the marginal epoch's images/s against the naive pipeline's at the run's size (issue 23, goal 2: 20x)."
    import re
    sys.path.insert(0, str(Path(__file__).parent)); from train_speed import bench_naive
    from defect_qc.images import find_splits, list_split
    from defect_qc.train import resolve_precision
    m = re.search(r'from (.+) at (\d+)px \((\w+)\).*: train (\d+), valid (\d+)', log)
    prec = resolve_precision(next((e.split('=', 1)[1] for e in extra if e.startswith('precision=')), 'auto'), 'cpu')
    size, n_train, n_valid = int(m[2]), int(m[4]), int(m[5])
    paths, labels = list_split(find_splits(m[1])['train'])
    ours, naive = n_train/epoch, bench_naive(paths, labels, size, n_batches)
    print(f"goal 2: marginal epoch {n_train} training + {n_valid} validation photos in {epoch:.1f} s = {ours:.0f} training images/s "
          f"({size} px, {prec}); naive pipeline {naive:.1f} images/s ({n_batches} batches of 64, training only): "
          f"{ours/naive:.1f}x (goal >= 20x: {'met' if ours/naive >= 20 else 'not met'})")

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('data', nargs='?', default=None); ap.add_argument('--out'); ap.add_argument('extra', nargs='*')
    ap.add_argument('--naive-batches', type=int, default=16, help="batches of 64 for the naive pipeline's images/s (0: skip goal 2)")
    ap.add_argument('--baseline', help='a git commit to compare with instead (alternating 1-epoch processes)')
    ap.add_argument('--pairs', type=int, default=5, help='with --baseline: the pairs of processes that count')
    a = ap.parse_intermixed_args(argv)   # the overrides may follow the options, as the usage line shows them
    data = a.data or (str(REPO.parent/'shared'/'data'/'casting_data') if (REPO.parent/'shared'/'data'/'casting_data').is_dir() else None)
    out = Path(a.out or tempfile.mkdtemp(prefix='fixed_cost_')); out.mkdir(parents=True, exist_ok=True)
    print(f"data: {data or 'demo data'}; runs in {out}")
    if a.baseline: return compare(a.baseline, data, out, a.extra, a.pairs)
    whole_run(data, out, 1, a.extra)                             # fills the image cache (and the demo data)
    first, again = fresh_memory()
    print(f"fresh memory: a new process touches 256 MB in {first:.2f} s the first time, {again:.2f} s after freeing it "
          f"(where the first is much slower, the host hands memory to the machine lazily: a training process touches about "
          f"1.4 GB, so its fixed cost varies with it)")
    ts = {n: [whole_run(data, out, n, a.extra) for _ in range(2)] for n in (1, 3)}   # two of each: the faster counts
    t1, t3 = min(ts[1]), min(ts[3])
    epoch = (t3 - t1) / 2
    print(f"whole processes: 1 epoch {' / '.join(f'{t:.1f}' for t in ts[1])} s, 3 epochs {' / '.join(f'{t:.1f}' for t in ts[3])} s "
          f"-> one epoch {epoch:.1f} s, fixed cost {t1 - epoch:.1f} s (goal <= 15 s: {'met' if t1 - epoch <= 15 else 'not met'})")
    if a.naive_batches: speed_up(whole_run.log, epoch, a.naive_batches, a.extra)
    imp = import_seconds()
    spent = {}; timed_steps(spent)
    in_process_run(data, out, a.extra, spent)                    # pays the steps' own first imports
    total = in_process_run(data, out, a.extra, spent)
    print(f"\nwhere it goes (1 epoch; the step 'fit' is the epoch itself):\n| step | seconds |\n|---|---:|")
    print(f"| import defect_qc.train (fresh process) | {imp:.1f} |")
    for mod, name, depth in STEPS:
        if name in spent: print(f"| {'&nbsp;&nbsp;'*depth}{name} | {spent[name]:.1f} |")
    top = sum(spent.get(n, 0.) for _, n, d in STEPS if d == 0)
    print(f"| the rest of train (MLflow run, seeds, ...) | {total - top:.1f} |\n| train, in all | {total:.1f} |")

if __name__ == '__main__': sys.exit(main())
