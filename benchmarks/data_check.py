"""How long the data check takes (the model card's, and `python -m defect_qc.data`'s): without a cache, with a cold
cache (the first run, which also writes it) and with a warm one (every later training run on the same photos).

    python benchmarks/data_check.py [ROOT]   # default: $DEFECT_QC_REAL_DATA or ../shared/data/casting_data, else demo data

The cache is a temporary folder, so your own cache is not touched. Time it on an idle machine.
"""
import argparse, tempfile, time
from pathlib import Path

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('root', nargs='?', help='data root (Kaggle layout)')
    a = ap.parse_args()
    from defect_qc.data import check_dataset
    from defect_qc.fixtures import real_data_root
    from defect_qc.synth import make_demo_data
    with tempfile.TemporaryDirectory() as td:
        root = Path(a.root) if a.root else real_data_root() or make_demo_data(Path(td)/'demo', 400, 100)
        times, reps = {}, {}
        for name, cache in (('no cache (baseline)', None), ('cold cache', Path(td)/'cache'), ('warm cache', Path(td)/'cache')):
            t0 = time.perf_counter(); reps[name] = check_dataset(root, cache_dir=cache); times[name] = time.perf_counter() - t0
        n = sum(sum(c.values()) for c in reps['warm cache']['counts'].values())
        print(f"data check of {root} ({n:,} images)\n\n| | seconds | vs baseline |\n|---|---:|---:|")
        for name, s in times.items(): print(f"| {name} | {s:.1f} | {times['no cache (baseline)']/s:.1f}x |")
        print(f"\nsame report every time: {len({repr(r) for r in reps.values()}) == 1}")

if __name__ == '__main__': main()
