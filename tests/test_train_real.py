"`python -m defect_qc.train` on real photos: a subset of the real train split reaches 95% at its tuned threshold (a file of its own so that `pytest -n` runs it beside the other trainings)."
import json
from conftest import run_cli, run_dirs, real_subset

def test_real_data_subset_reaches_95pct(tmp_path, real_data, cache_dir):
    # accuracy is taken at the tuned threshold, which must catch >= 99.5% of the validation defects: on 150 of them, every
    # one. 700 images a class for 12 epochs (ROC-AUC 0.994) paid for the last defect with 27-52 false alarms (81-90%);
    # 750 for 20 epochs (ROC-AUC 0.999, about a minute here) gave 98.0% and 99.3% with two training seeds.
    # With PreciseBN on 256 images (4 of its 18 batches, not all): 99.7% (seed 42), 98.0 (1), 96.7 (2), 97.3 (3); with fp32 as
    # on an AVX2 CPU 100% (42) and 96.3% (2). The plots are off: the point here is the accuracy.
    root = real_subset(tmp_path/'casting', 750)
    r = run_cli('defect_qc.train', f'data.path={root}', 'num_epochs=20', 'mlflow.log_model=false', 'card.plots=false', cwd=tmp_path,
                env={'DEFECT_QC_CACHE': str(cache_dir)})
    assert r.returncode == 0, r.stderr[-3000:]
    (run,) = run_dirs(tmp_path)
    v = json.loads((run/'metrics.json').read_text())['val']
    print('real subset validation:', {k: v[k] for k in ('accuracy', 'recall', 'precision')})
    assert v['accuracy'] >= 0.95, v

