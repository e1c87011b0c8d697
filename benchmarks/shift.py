"""How a trained run holds up when the camera set-up changes: its validation split under simulated shifts.

    python benchmarks/shift.py RUN [--backend torch] [--limit N] [--json FILE]

RUN is a run folder (`model.pth` + `model.json` + `.hydra/config.yaml`, as `python -m defect_qc.train` writes it).
Its validation images (re-drawn from the saved config exactly as training drew them; never the test split) are
changed as a new camera set-up would change them (`defect_qc.evaluate.SHIFTS`: part scale 0.65/0.8/1.1 with a
matching background, brighter/darker/uneven background, gamma 0.7/1.4, blur, JPEG quality 30, a 512 px round trip)
and scored through `defect_qc.predict.Predictor`, the production path. Prints ROC-AUC, accuracy at the run's tuned
threshold, missed defects, false alarms and the share flagged by the drift alarm per shift, in-distribution first.
The method is described in the evaluation notebook (section "Under a new camera").
"""
import argparse, json, sys
from pathlib import Path

import numpy as np

def validation_split(run):
    "The run's validation images and labels, re-drawn from its saved config exactly as training drew them."
    from omegaconf import OmegaConf
    from defect_qc.data import find_splits, list_split, stratified_split
    f = Path(run)/'.hydra'/'config.yaml'
    if not f.is_file(): sys.exit(f"error: {f}: missing (RUN must be a run folder written by python -m defect_qc.train)")
    cfg = OmegaConf.load(f)
    if not cfg.data.path: sys.exit(f"error: {f}: the run trained on demo data (data.path is null); this benchmark needs a real data set")
    paths, y = list_split(find_splits(cfg.data.path)['train'])
    _, v = stratified_split(y, cfg.data.valid_pct, cfg.seed)
    return [paths[i] for i in v], y[v]

def format_table(rows):
    "The rows as a Markdown table."
    out = ['| shift | ROC-AUC | accuracy | missed defects | false alarms | flagged as drift |', '|---|---|---|---|---|---|']
    for r in rows:
        d = '-' if np.isnan(r['drift']) else f"{r['drift']:.1%}"
        out.append(f"| {r['shift']} | {r['roc_auc']:.4f} | {r['accuracy']:.2%} | {r['missed']} | {r['false_alarms']} | {d} |")
    return '\n'.join(out)

def main(argv=None):
    from defect_qc.evaluate import shift_benchmark
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('run', help='run folder (model.pth, model.json, .hydra/config.yaml)')
    ap.add_argument('--backend', default='torch', choices=['torch', 'onnx', 'torchscript'])
    ap.add_argument('--limit', type=int, help='score a seeded sample of this many validation images')
    ap.add_argument('--json', help='also write the rows as JSON')
    a = ap.parse_args(argv)
    paths, y = validation_split(a.run)
    if a.limit:
        idx = np.sort(np.random.default_rng(0).permutation(len(paths))[:a.limit]); paths, y = [paths[i] for i in idx], y[idx]
    rows = shift_benchmark(a.run, paths, y, a.backend)
    print(format_table(rows))
    worst = min(rows[1:], key=lambda r: r['accuracy'])
    print(f"\nin distribution: ROC-AUC {rows[0]['roc_auc']:.4f}, accuracy {rows[0]['accuracy']:.2%}; lowest ROC-AUC under a shift "
          f"{min(r['roc_auc'] for r in rows[1:]):.4f}; lowest accuracy: {worst['shift']} ({worst['accuracy']:.2%})")
    if a.json: Path(a.json).write_text(json.dumps(rows, indent=2))
    return 0

if __name__ == '__main__': sys.exit(main())
