"""How a trained run holds up when the camera set-up changes: its validation split under simulated shifts, and a real second camera.

    python benchmarks/shift.py RUN [--backend torch] [--limit N] [--shifts a,b] [--second-camera DIR] [--second-camera-side PX] [--json FILE]

RUN is a run folder (`model.pth` + `model.json` + `.hydra/config.yaml`, as `python -m defect_qc.train` writes it).
Its validation images (the run's `validation.csv`; for a run older than that file, re-drawn from the saved config
exactly as training drew them; never the test split) are
changed as a new camera set-up would change them (`defect_qc.shift.SHIFTS`: part scale 0.65/0.8/1.1 with a
matching background, a tilt of 25° (the part squeezed to cos 25° of its height), brighter/darker/uneven background, gamma 0.7/1.4, blur, JPEG quality 30, a 512 px round trip)
and scored through `defect_qc.predict.Predictor`, the production path. Prints ROC-AUC, accuracy at the run's tuned
threshold, missed defects, false alarms, the share flagged by the drift alarm, the share flagged at all (drift or
review) and the share **wrong and not flagged** (decided wrongly, with no drift flag: the silent errors) per shift,
in-distribution first. The last row, `second_camera`, is a real shift: the labelled photos of another camera set-up of
the same data set (`--second-camera`, default `../shared/data/second_camera/labelled` beside the repository; 512 px
photos with another framing, background and light), scored as files, unchanged; `second_camera_300px` is the same photos
resampled to the training photos' 300 px (Lanczos, lossless PNG), so that the alarm's resolution check cannot see the
change: what its other checks catch (`--second-camera-side`).
The method is described in the camera shifts notebook (`nbs/12_shift.ipynb`).
"""
import argparse, json, sys
from pathlib import Path

import numpy as np

def validation_split(run):
    "The run's validation images and labels: its `validation.csv` (when its photos are here), else re-drawn from its saved config exactly as training drew them."
    if (v := Path(run)/'validation.csv').is_file():
        import pandas as pd
        df = pd.read_csv(v)
        if all(Path(f).is_file() for f in df.path): return [Path(f) for f in df.path], df.label.to_numpy()
        print(f"note: {v}: its photos are not all here (a run from another machine?): drawing the split from the config", file=sys.stderr)
    from omegaconf import OmegaConf
    from defect_qc.images import find_splits, list_split
    from defect_qc.dataloaders import stratified_split
    f = Path(run)/'.hydra'/'config.yaml'
    if not f.is_file(): sys.exit(f"error: {f}: missing (RUN must be a run folder written by python -m defect_qc.train)")
    cfg = OmegaConf.load(f)
    if not cfg.data.path: sys.exit(f"error: {f}: the run trained on demo data (data.path is null); this benchmark needs a real data set")
    paths, y = list_split(find_splits(cfg.data.path)['train'])
    _, v = stratified_split(y, cfg.data.valid_pct, cfg.seed)
    return [paths[i] for i in v], y[v]

def second_camera_rows(run, folder, backend='torch', side=300):
    "The `second_camera` rows: the labelled photos of another camera set-up (`ok_front/`, `def_front/`) as files, then resampled to `side` px (0: not)."
    from PIL import Image
    from defect_qc.images import list_split
    from defect_qc.shift import _encode, shift_row
    from defect_qc.predict import Predictor
    paths, y = list_split(folder)
    if not paths: sys.exit(f"error: {folder}: no labelled photos (ok_front/, def_front/)")
    pred = Predictor(run, backend)
    rows = [shift_row('second_camera', y, pred.predict_paths(paths, warn=False), pred.threshold)]
    if side:   # the same photos at the training photos' size: what the alarm sees without its resolution check
        small = [np.asarray(Image.open(p).convert('L').resize((side, side), Image.Resampling.LANCZOS)) for p in paths]
        rows.append(shift_row(f'second_camera_{side}px', y, pred.predict_bytes([_encode(a, 'png') for a in small], warn=False), pred.threshold))
    return rows

def format_table(rows):
    "The rows as a Markdown table."
    out = ['| shift | photos | ROC-AUC | accuracy | missed defects | false alarms | flagged as drift | flagged (drift or review) | wrong and not flagged |',
           '|---|---|---|---|---|---|---|---|---|']
    pct = lambda v: '-' if np.isnan(v) else f"{v:.1%}"
    for r in rows:
        out.append(f"| {r['shift']} | {r['n']} | {r['roc_auc']:.4f} | {r['accuracy']:.2%} | {r['missed']} | {r['false_alarms']} | "
                   f"{pct(r['drift'])} | {pct(r['flagged'])} | {pct(r['silent'])} |")
    return '\n'.join(out)

def main(argv=None):
    from defect_qc.shift import shift_benchmark
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('run', help='run folder (model.pth, model.json, .hydra/config.yaml)')
    ap.add_argument('--backend', default='torch', choices=['torch', 'onnx', 'torchscript'])
    ap.add_argument('--limit', type=int, help='score a seeded sample of this many validation images')
    ap.add_argument('--shifts', help='comma-separated simulated shifts to run (default: all; in_distribution is always first)')
    ap.add_argument('--second-camera', default=str(Path(__file__).resolve().parents[2]/'shared'/'data'/'second_camera'/'labelled'),
                    help="labelled photos of another camera set-up (ok_front/, def_front/); 'none' to leave the row out")
    ap.add_argument('--second-camera-side', type=int, default=300,
                    help='also score those photos resampled to this many pixels, the training photos\' size (default 300; 0: not)')
    ap.add_argument('--json', help='also write the rows as JSON')
    a = ap.parse_args(argv)
    from defect_qc.shift import SHIFTS
    shifts = ['in_distribution'] + [s for s in (a.shifts.split(',') if a.shifts else SHIFTS) if s and s != 'in_distribution']
    if (bad := [s for s in shifts if s not in SHIFTS]): sys.exit(f"error: --shifts: unknown {', '.join(bad)} (choose from {', '.join(SHIFTS)})")
    paths, y = validation_split(a.run)
    if a.limit:
        idx = np.sort(np.random.default_rng(0).permutation(len(paths))[:a.limit]); paths, y = [paths[i] for i in idx], y[idx]
    rows = shift_benchmark(a.run, paths, y, a.backend, shifts)
    cam = Path(a.second_camera)
    if a.second_camera != 'none':
        if cam.is_dir(): rows += second_camera_rows(a.run, cam, a.backend, a.second_camera_side)
        else: print(f"warning: {cam}: not found, the second_camera row is left out (--second-camera DIR)", file=sys.stderr)
    print(format_table(rows))
    if len(rows) > 1:
        worst = min(rows[1:], key=lambda r: r['accuracy'])
        print(f"\nin distribution: ROC-AUC {rows[0]['roc_auc']:.4f}, accuracy {rows[0]['accuracy']:.2%}, flagged {rows[0]['flagged']:.1%}; "
              f"lowest ROC-AUC under a shift {min(r['roc_auc'] for r in rows[1:]):.4f}; lowest accuracy: {worst['shift']} ({worst['accuracy']:.2%}); "
              f"most wrong and not flagged: {max(rows, key=lambda r: r['silent'])['shift']} ({max(r['silent'] for r in rows):.1%})")
    if a.json: Path(a.json).write_text(json.dumps(rows, indent=2))
    return 0

if __name__ == '__main__': sys.exit(main())
