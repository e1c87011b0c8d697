"""From photo file to decision, stage by stage: where the time goes, against the plain-decode floor, in one run.

usage: python benchmarks/predict_stages.py RUN_DIR [--n 715] [--backend torch]

Files: the real 300 px train photos (`--n` of them), the 512 px second-camera photos and their mix, from ../shared/data
(it needs them). Prints, per photo in one thread: decode, find part, crop, model, drift and
CSV; then photos/s end to end with all cores (`Predictor.predict_paths`) against Pillow decoding the same files with
all cores (the floor the issue asks prediction to reach).
"""
import argparse, os, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from defect_qc.images import PART_STATS, _open, load_part_image
from defect_qc.drift import frame_contrast, source_side
from defect_qc.fixtures import REAL_DATA_MISSING, real_data_root
from defect_qc.parts import find_part
from defect_qc.predict import Predictor, write_results


def photo_sets(n):
    "Named lists of files: 300 px, 512 px and the mix; None without the real photos."
    real = real_data_root()
    if not real: return None
    fs = sorted((real/'train').rglob('*.jpeg'))
    p300 = fs[::max(1, len(fs)//n)][:n]
    p512 = sorted((real.parent/'second_camera').rglob('*.jpeg'))
    return {'300 px': p300, '512 px': p512, 'mix': p300 + p512}

def per_photo_ms(files, pred):
    "Milliseconds per photo of each stage, one thread: decode, find part and crop are differences of the product's own path."
    prep, size, mode = pred.meta.get('prep'), pred.img_size, pred.image_mode
    ref = np.asarray(prep['reference'], np.float32) if prep else None
    t = dict(decode=0., find_part=0., crop=0.)
    xs, parts, sides = [], [], []
    for f in files:
        t0 = time.perf_counter(); im = _open(f, size, mode, prep is not None); im.load()
        t1 = time.perf_counter()
        if prep: find_part(np.asarray(im.convert('L')), ref)
        t2 = time.perf_counter(); a, part = load_part_image(f, size, mode, prep)   # decode, find, crop and mask: what predict runs
        t3 = time.perf_counter()
        t['decode'] += t1 - t0; t['find_part'] += t2 - t1; t['crop'] += max(0., (t3 - t2) - (t2 - t0))
        xs.append(a); parts.append([part[k] for k in PART_STATS] if part else [np.nan]*len(PART_STATS)); sides.append(source_side(f))
    x, n = np.stack(xs), len(files)
    t0 = time.perf_counter(); p, d = pred._scores(x); t['model'] = time.perf_counter() - t0
    t0 = time.perf_counter()   # the drift alarm as `Predictor._run` computes it: the frames' contrast per batch, then the scores
    contrast = np.concatenate([frame_contrast(x[i:i+pred.bs], (prep or {}).get('mask_radius')) for i in range(0, n, pred.bs)])
    dr = pred._drift(np.array(parts, np.float32), d if d is not None else np.full(n, np.nan), p, np.array(sides), contrast)
    t['drift'] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as td:
        df = pred._frame({'path': [str(f) for f in files]}, p, [None]*n, dr)
        t0 = time.perf_counter(); write_results(df, Path(td)/'p.csv'); t['csv'] = time.perf_counter() - t0
    return {k: v/n*1e3 for k, v in t.items()}

def floor(files, workers):
    "Photos/s of Pillow decoding the files (to grayscale), `workers` threads."
    def dec(f):
        with Image.open(f) as im: im.convert('L').load()
    with ThreadPoolExecutor(workers) as ex:
        t0 = time.perf_counter(); list(ex.map(dec, files)); return len(files)/(time.perf_counter() - t0)

def end_to_end(pred, files, reps=2):
    "Photos/s of `predict_paths` (all cores), the best of `reps`."
    best = 0.
    for _ in range(reps):
        t0 = time.perf_counter(); pred.predict_paths(files, warn=False); best = max(best, len(files)/(time.perf_counter() - t0))
    return best

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('run_dir', help='trained run folder (or an export folder with --backend onnx)')
    ap.add_argument('--n', type=int, default=715, help='300 px photos in the mix (default 715, as many as the test split)')
    ap.add_argument('--backend', default='torch')
    a = ap.parse_args(argv)
    sets = photo_sets(a.n)
    if sets is None: sys.exit(f"error: {REAL_DATA_MISSING}")
    pred = Predictor(a.run_dir, a.backend)
    pred.predict_paths(sets['300 px'][:64], warn=False)   # warm up
    w = os.cpu_count()
    print(f"model: {pred.meta['arch']} {pred.img_size}px {pred.image_mode}, backend {a.backend}; {w} cores\n")
    print('| photos | n | decode | find part | crop | model | drift | CSV | sum, ms/photo (1 thread) | Pillow decode floor, photos/s | end to end, photos/s | end to end / floor |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for name, fs in sets.items():
        ms = per_photo_ms(fs, pred)
        fl, e2e = floor(fs, w), end_to_end(pred, fs)
        print(f"| {name} | {len(fs)} | " + ' | '.join(f'{v:.2f}' for v in ms.values()) + f" | {sum(ms.values()):.2f} | {fl:,.0f} | {e2e:,.0f} | {e2e/fl:.2f} |")
    return 0

if __name__ == '__main__': sys.exit(main())
