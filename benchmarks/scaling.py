"""Training time vs data size and vs processes.

    python benchmarks/scaling.py [--sizes 1000 3000 6633] [--procs 1 2] [--epochs 2] [--img-size 128]

Trains `python -m defect_qc.train` (1 process) or `accelerate launch --multi_gpu --num_processes N -m defect_qc.train`
(N CPU processes on gloo when there is no GPU) on stratified subsets of the real training split
(../shared/data/casting_data when present, else the demo data), with the default config except for the epochs, and prints
seconds per epoch and training images per second. The time is `fit_seconds` from metrics.json (the fit: training epochs,
PreciseBN and validation; not data loading or the final evaluation). The images are decoded once into a cache first
(the image cache is built before the fit, so decoding is not timed).
"""
import argparse, json, os, random, shutil, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

def subset(src_train, dest, n, seed=0):
    "Symlink a stratified random subset of n images of `src_train/{ok_front,def_front}` into `dest/train/`."
    rng = random.Random(seed)
    files = {d: sorted((src_train/d).iterdir()) for d in ('ok_front', 'def_front')}
    total = sum(map(len, files.values())); n = min(n, total)
    for d, fs in files.items():
        k = round(n*len(fs)/total)
        (dest/'train'/d).mkdir(parents=True, exist_ok=True)
        for f in rng.sample(fs, k): (dest/'train'/d/f.name).symlink_to(f.resolve())
    return dest, total

def run(root, procs, epochs, img_size, cache, work):
    cwd = Path(tempfile.mkdtemp(dir=work))
    args = [f'data.path={root}', f'num_epochs={epochs}', f'data.img_size={img_size}', f'data.cache_dir={cache}',
            'mlflow.log_model=false', 'mlflow.register_name=null', 'early_stopping.enabled=false']
    env = {**os.environ}; env.pop('IN_TEST', None)
    if procs == 1: cmd = [sys.executable, '-m', 'defect_qc.train', *args]
    else:
        env['ACCELERATE_USE_CPU'] = env.get('ACCELERATE_USE_CPU', '1')
        cmd = [str(Path(sys.executable).parent/'accelerate'), 'launch', '--multi_gpu', '--num_processes', str(procs),
               '--num_machines', '1', '--mixed_precision', 'no', '--dynamo_backend', 'no', '-m', 'defect_qc.train', *args]
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode: sys.exit(f"failed ({' '.join(cmd[:6])} ...):\n{r.stderr[-3000:]}")
    (m,) = [json.loads(p.read_text()) for p in cwd.glob('outputs/*/*/metrics.json')]
    return m, wall

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', type=int, nargs='+', default=[1000, 3000, 6633], help='images taken from train/ (80%% train, 20%% valid)')
    ap.add_argument('--procs', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--img-size', type=int, default=128, help='image side (default 128, the default config)')
    ap.add_argument('--data', default=None, help='data root (default: the real data if found, else the demo data)')
    a = ap.parse_args()
    from defect_qc.fixtures import real_data_root
    src = Path(a.data) if a.data else real_data_root()
    if src is None:
        from defect_qc.synth import demo_data
        src = demo_data(); print(f"(real data not found: demo data {src})")
    work = Path(tempfile.mkdtemp(prefix='scaling_')); cache = work/'cache'
    import torch
    print(f"data: {src}; {a.epochs} epochs at {a.img_size}px; {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"GPU: {torch.cuda.is_available()}")
    rows = []
    try:
        for n in a.sizes:
            root, total = subset(src/'train', work/f'sub{n}', n)
            for p in a.procs:
                m, wall = run(root, p, a.epochs, a.img_size, cache, work)
                n_train = round(min(n, total)*0.8)
                spe = m['fit_seconds']/m['epochs_run']
                rows.append((min(n, total), n_train, p, spe, n_train/spe, wall, m['val']['accuracy']))
                print(f"  {min(n, total):5d} images, {p} process(es): {spe:7.1f} s/epoch, {n_train/spe:6.1f} train images/s "
                      f"(wall {wall:.0f} s)", flush=True)
    finally: shutil.rmtree(work, ignore_errors=True)
    print("\n| images (train split) | train images/epoch | processes | s/epoch | images/s | wall s (incl. start, eval) | val acc |")
    print("|---|---|---|---|---|---|---|")
    for r in rows: print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.0f} | {r[6]:.3f} |")

if __name__ == '__main__': main()
