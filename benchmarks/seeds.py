"""Is the default model good by design or by luck? Train the default config with several seeds and compare.

    python benchmarks/seeds.py [DATA_ROOT] [--seeds 42 1 2 3 4] [--out DIR] [-- extra overrides...]
    python benchmarks/seeds.py -- threshold.folds=5      # the threshold on out-of-fold scores of all of train/

Each seed draws its own validation split and its own initialisation, augmentation and batch order. Every run is a
plain `python -m defect_qc.train data.path=DATA_ROOT seed=S` (the default config; nothing tuned per seed), into
DIR/seed_S with its own SQLite MLflow store. Prints per seed: validation errors (missed defects + false alarms) at
the tuned threshold, accuracy, recall, ROC-AUC, epochs and fit time; then the mean and the worst seed, and whether
every seed meets the goal (>= 99.5% validation accuracy and recall). With `threshold.folds`, also the out-of-fold errors
of all train/ photos at the threshold (the estimate a test split would check) and the spread of the thresholds.
DATA_ROOT defaults to ../shared/data/casting_data.
"""
import argparse, json, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

def run_seed(data, seed, out, extra):
    "Train one seed in a subprocess; returns its metrics.json (or raises with the tail of its log)."
    d = Path(out)/f'seed_{seed}'
    cmd = [sys.executable, '-m', 'defect_qc.train', f'data.path={data}', f'seed={seed}', f'hydra.run.dir={d}',
           f'mlflow.tracking_uri=sqlite:///{Path(out).resolve()}/mlflow.db', 'mlflow.register_name=null', *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=out)
    (Path(out)/f'seed_{seed}.log').write_text(r.stdout + r.stderr)
    if r.returncode: raise RuntimeError(f"seed {seed} failed (exit {r.returncode}):\n" + '\n'.join((r.stdout + r.stderr).splitlines()[-15:]))
    m = json.loads((d/'metrics.json').read_text()); m['wall_seconds'] = time.perf_counter() - t0
    return m

def cross_fitted(oof_csv, target_recall=0.995, mode='recall'):
    "(missed, false alarms) on folds 1..k-1 of `oof.csv`: at the threshold tuned on validation (fold 0) alone, and at the one tuned on the other folds."
    import numpy as np, pandas as pd
    from defect_qc.evaluate import tune_threshold
    d = pd.read_csv(oof_csv)
    tuned = lambda s: tune_threshold(s.label, s.p_defect, target_recall, mode=mode)['threshold']
    errs = lambda s, t: np.array([((s.p_defect < t) & (s.label == 1)).sum(), ((s.p_defect >= t) & (s.label == 0)).sum()])
    rest = d[d.fold > 0]
    val = errs(rest, tuned(d[d.fold == 0]))
    oof = sum(errs(d[d.fold == f], tuned(d[d.fold != f])) for f in sorted(set(rest.fold)))
    return dict(n=len(rest), val=val.tolist(), oof=oof.tolist())

def row(seed, m):
    v = m['val']; c = v['confusion']
    return dict(seed=seed, errors=c['fn'] + c['fp'], missed=c['fn'], false_alarms=c['fp'], accuracy=v['accuracy'],
                recall=v['recall'], roc_auc=v['roc_auc'], threshold=m['threshold'], epochs=m.get('epochs_run'),
                fit_s=m.get('fit_seconds'), wall_s=m['wall_seconds'],
                **({'oof_n': o['n'], 'oof_missed': o['confusion']['fn'], 'oof_false_alarms': o['confusion']['fp']} if (o := m.get('oof')) else {}))

def format_table(rows):
    oof = all('oof_n' in r for r in rows)
    out = ['| seed | errors (missed + false alarms) | accuracy | recall | ROC-AUC | threshold | epochs | fit time |' + (' out-of-fold errors |' if oof else ''),
           '|---|---|---|---|---|---|---|---|' + ('---|' if oof else '')]
    for r in rows:
        out.append(f"| {r['seed']} | {r['errors']} ({r['missed']} + {r['false_alarms']}) | {r['accuracy']:.2%} | {r['recall']:.2%} | "
                   f"{r['roc_auc']:.5f} | {r['threshold']:.3f} | {r['epochs']} | {r['fit_s']/60:.1f} min |"
                   + (f" {r['oof_missed'] + r['oof_false_alarms']} ({r['oof_missed']} + {r['oof_false_alarms']}) of {r['oof_n']:,} |" if oof else ''))
    mean = lambda k: sum(r[k] for r in rows)/len(rows)
    worst = max(rows, key=lambda r: (r['errors'], -r['recall']))
    out.append(f"| mean | {mean('errors'):.1f} ({mean('missed'):.1f} + {mean('false_alarms'):.1f}) | {mean('accuracy'):.2%} | "
               f"{mean('recall'):.2%} | {mean('roc_auc'):.5f} | | {mean('epochs'):.0f} | {mean('fit_s')/60:.1f} min |" + (' |' if oof else ''))
    out.append(f"| worst | {worst['errors']} ({worst['missed']} + {worst['false_alarms']}) | {min(r['accuracy'] for r in rows):.2%} | "
               f"{min(r['recall'] for r in rows):.2%} | {min(r['roc_auc'] for r in rows):.5f} | | | {max(r['fit_s'] for r in rows)/60:.1f} min |" + (' |' if oof else ''))
    return '\n'.join(out)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('data', nargs='?', default=None, help='data root (Kaggle layout; default: $DEFECT_QC_REAL_DATA or ../shared/data/casting_data)')
    ap.add_argument('--seeds', type=int, nargs='+', default=[42, 1, 2, 3, 4])
    ap.add_argument('--out', help='folder for the runs (default: a temporary folder)')
    ap.add_argument('--json', help='also write the rows as JSON')
    ap.add_argument('overrides', nargs='*', help='extra training overrides (after --)')
    a = ap.parse_intermixed_args(argv)   # the overrides may follow the options (after --)
    if a.data and '=' in a.data and not Path(a.data).is_dir(): a.data, a.overrides = None, [a.data, *a.overrides]   # no DATA_ROOT, only overrides
    from defect_qc.fixtures import real_data_root
    a.data = a.data or real_data_root()
    if a.data is None or not (Path(a.data)/'train').is_dir(): sys.exit(f"error: {a.data}: no train/ folder (pass the data root)")
    out = Path(a.out or tempfile.mkdtemp(prefix='defect_qc_seeds_')); out.mkdir(parents=True, exist_ok=True)
    rows = []
    for s in a.seeds:
        m = run_seed(Path(a.data).resolve(), s, out, a.overrides)
        rows.append(row(s, m)); r = rows[-1]
        print(f"seed {s}: {r['errors']} errors ({r['missed']} missed, {r['false_alarms']} false alarms), accuracy {r['accuracy']:.2%}, "
              f"recall {r['recall']:.2%}, ROC-AUC {r['roc_auc']:.5f}, fit {r['fit_s']:.0f} s", flush=True)
        if (out/f'seed_{s}'/'oof.csv').is_file():
            r['cross_fitted'] = c = cross_fitted(out/f'seed_{s}'/'oof.csv', m['threshold_info']['target_recall'], m['threshold_info']['mode'])
            print(f"  on the {c['n']:,} photos of folds 1+, each threshold chosen without them: tuned on validation "
                  f"{c['val'][0]} missed + {c['val'][1]} false alarms; tuned on the other folds {c['oof'][0]} + {c['oof'][1]}", flush=True)
    print('\n' + format_table(rows))
    th = [r['threshold'] for r in rows]
    print(f"\nthresholds from {min(th):.3f} to {max(th):.3f}" + (" (tuned on out-of-fold scores)" if all('oof_n' in r for r in rows) else " (tuned on validation)"))
    ok = all(r['accuracy'] >= 0.995 and r['recall'] >= 0.995 for r in rows)
    print(f"\ngoal (every seed >= 99.5% validation accuracy and recall): {'met' if ok else 'NOT met'}; runs in {out}")
    if a.json: Path(a.json).write_text(json.dumps(rows, indent=2))
    return 0

if __name__ == '__main__': sys.exit(main())
