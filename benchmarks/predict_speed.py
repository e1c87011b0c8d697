"""Prediction speed, torch vs ONNX Runtime, batch 1 and 64: model compute alone and end-to-end from JPEG files; the cost of heat maps.

usage: python benchmarks/predict_speed.py [RUN_DIR] [--n 512] [--img-size 128]

Without RUN_DIR a tiny DefectCNN run is created (weights don't matter for speed). The ONNX model is exported into a
temporary folder, so RUN_DIR is not modified. JPEGs: the real casting photos when ../shared/data/casting_data is there,
else synthetic 300x300 demo JPEGs. Prints a markdown table of images/s (higher is better), the cost of heat maps, and
the time of one photo per call with the predictor's decoding threads kept against a new pool per call; with RUN_DIR
and the real photos, then the per-stage table of `predict_stages.py` (decode, find part, crop, model, drift, CSV, and Pillow's decoding floor).
"""
import argparse, os, subprocess, sys, tempfile, time
from pathlib import Path

import warnings
import torch

warnings.filterwarnings('ignore', category=FutureWarning)

from defect_qc.images import image_args, load_images
from defect_qc.fixtures import make_tiny_run, real_data_root
from defect_qc.predict import Predictor
from predict_stages import main as stages_main


def rate(fn, n_items, min_s=1.0, warmup=1):
    "Images/s of `fn()` (processing `n_items` images), repeated for at least `min_s` seconds after `warmup` calls."
    for _ in range(warmup): fn()
    k, t0 = 0, time.perf_counter()
    while True:
        fn(); k += 1
        dt = time.perf_counter() - t0
        if dt >= min_s: return k*n_items/dt

def jpeg_files(tmp, n):
    if (real := real_data_root()):
        fs = sorted((real/'train'/'def_front').glob('*.jpeg'))[:n//2] + sorted((real/'train'/'ok_front').glob('*.jpeg'))[:n - n//2]
        if len(fs) == n: return fs, f'real casting photos ({real})'
    from defect_qc.synth import make_demo_data
    d = make_demo_data(tmp/'demo', n, 0, size=300)
    return sorted(d.rglob('*.jpeg'))[:n], 'synthetic 300x300 demo JPEGs'

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('run_dir', nargs='?', help='trained run folder (default: create a tiny one)')
    ap.add_argument('--n', type=int, default=512, help='JPEG files for the end-to-end runs (default 512)')
    ap.add_argument('--img-size', type=int, default=128, help='input size of the tiny model made without RUN_DIR (default 128)')
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        run = Path(a.run_dir) if a.run_dir else make_tiny_run(tmp/'run', img_size=a.img_size, steps=3)
        # export in a separate process, as a user does: in-process, torch.onnx.export leaves global state behind that slows
        # later eager PyTorch inference on CPU (measured ~14x at batch 1 with torch 2.14), which would skew the comparison
        subprocess.run([sys.executable, '-m', 'defect_qc.export', str(run), '--out', str(tmp/'export')], check=True, stdout=subprocess.DEVNULL)
        files, src = jpeg_files(tmp, a.n)
        preds = {'torch': Predictor(run, 'torch'), 'onnx': Predictor(tmp/'export', 'onnx')}
        meta = preds['torch'].meta
        x, _ = load_images(files, **image_args(meta))
        print(f"model: {meta['arch']} {meta['img_size']}px {meta['image_mode']} from {a.run_dir or 'a tiny run'}; images: {len(files)} {src}")
        print(f"CPU threads: torch {torch.get_num_threads()}, os.cpu_count() {os.cpu_count()}; torch {torch.__version__}\n")
        rows = []
        for bs in (1, 64):
            for name, p in preds.items():
                p.bs = bs
                n1 = 64 if bs == 1 else len(x)
                comp = rate(lambda: [p.predict_arrays(x[i:i+bs]) for i in range(0, n1, bs)], n1)
                fs = files[:64] if bs == 1 else files
                e2e = rate(lambda: p.predict_paths(fs, warn=False), len(fs), warmup=0)
                rows.append((name, bs, comp, e2e))
        print('| backend | batch | model compute (img/s) | end-to-end from JPEG (img/s) |')
        print('|---|---:|---:|---:|')
        for name, bs, comp, e2e in rows: print(f'| {name} | {bs} | {comp:,.0f} | {e2e:,.0f} |')
        p = preds['torch']; p.bs = 64       # the cost of an explanation: prediction plus Grad-CAM, as `predict --explain` runs them
        plain = rate(lambda: p.predict_paths(files, warn=False), len(files), warmup=0)
        expl = rate(lambda: (p.predict_paths(files, warn=False), p.explain(files)), len(files), warmup=0)
        print(f"\nwith Grad-CAM heat maps (torch, batch 64, end-to-end): {expl:,.0f} img/s, against {plain:,.0f} img/s without "
              f"({plain/expl:.1f}x the time)")
        one = [f.read_bytes() for f in files[:64]]   # photos one at a time, as the station and the server get them on a line
        def calls(fresh):
            def go():
                for b in one:
                    if fresh: p._pool = None   # as before: a new pool of decoding threads for each call, joined at its end
                    p.predict_bytes([b], warn=False)
                    if fresh: p._pool.shutdown()
            return go
        kept, fresh = (max(rate(calls(f), len(one)) for _ in range(3)) for f in (False, True))
        print(f"one photo per call (torch, from bytes, best of 3): {1e3/kept:.2f} ms a photo with the predictor's decoding threads "
              f"kept, {1e3/fresh:.2f} ms with a new pool for each call")
    if a.run_dir and real_data_root():   # where the time goes from file to decision, against Pillow's decoding of the same files
        print(); stages_main([a.run_dir])
    return 0

if __name__ == '__main__': sys.exit(main())
