"`python -m defect_qc.evaluate` as a user calls it: output folder, metrics.json, plots, exit codes and error messages."
import json, random, shutil
from pathlib import Path
import numpy as np
import pytest
from conftest import run_cli
from defect_qc.images import list_split
from defect_qc.fixtures import make_tiny_run, png_ok
from defect_qc.synth import make_demo_data

PLOTS = ('confusion_matrix', 'curves', 'hist', 'errors', 'gradcam')
METRICS = {'accuracy', 'precision', 'recall', 'specificity', 'f1', 'roc_auc', 'pr_auc', 'threshold', 'n', 'n_pos', 'confusion', 'confusion_pct',
           'miss_rate', 'miss_rate_ub95', 'false_alarm_rate', 'false_alarm_rate_ub95'}

@pytest.fixture(scope='module')
def env(tmp_path_factory, tiny_run):
    tmp = tmp_path_factory.mktemp('evaluate')
    run = tiny_run(tmp/'run')
    meta = json.loads((run/'model.json').read_text())
    (run/'model.json').write_text(json.dumps({**meta, 'threshold': 0.37}))     # a tuned threshold, distinct from 0.5
    demo = make_demo_data(tmp/'demo', 40, 20, size=64, seed=1)
    return tmp, run, demo

def evaluate(*args): return run_cli('defect_qc.evaluate', *args, timeout=300)

def eval_dirs(run): return sorted(run.glob('eval-*'))

def check_split(m, folder):
    "Metrics of one split are complete and count exactly the images of `folder`."
    _, y = list_split(folder)
    assert METRICS <= set(m)
    assert (m['n'], m['n_pos']) == (len(y), int(y.sum()))
    c = m['confusion']
    assert c['tp'] + c['fn'] == m['n_pos'] and sum(c.values()) == m['n']
    assert abs(sum(m['confusion_pct'].values()) - 100) < 1e-6

def test_kaggle_layout_all_splits_new_folder(env):
    tmp, run, demo = env
    before = eval_dirs(run)
    r = evaluate(run, demo)
    assert r.returncode == 0, r.stderr
    new = [d for d in eval_dirs(run) if d not in before]
    assert len(new) == 1, new
    mj = json.loads((new[0]/'metrics.json').read_text())
    assert {'threshold', 'threshold_info', 'train', 'test', 'at_0.5'} <= set(mj)
    assert mj['threshold'] == 0.37 and mj['train']['threshold'] == mj['test']['threshold'] == 0.37     # the run's, not re-tuned
    assert set(mj['at_0.5']) == {'train', 'test'} and mj['at_0.5']['test']['threshold'] == 0.5
    for s in ('train', 'test'):
        check_split(mj[s], demo/s)
        for p in PLOTS: png_ok(new[0]/f'{p}_{s}.png')
    out = r.stdout.splitlines()
    assert out[0].split()[:3] == ['split', 'n', 'thresh'] and any(l.startswith('test @0.5') for l in out)
    assert 'Traceback' not in r.stderr
    # a second evaluation never overwrites the first
    r2 = evaluate(run, demo)
    assert r2.returncode == 0, r2.stderr
    assert len(eval_dirs(run)) == len(before) + 2 and (new[0]/'metrics.json').is_file()

def test_flat_folder_and_out(env):
    tmp, run, demo = env
    r = evaluate(run, demo/'test', '--out', 'batch7', '--bs', '7')
    assert r.returncode == 0, r.stderr
    mj = json.loads((run/'batch7'/'metrics.json').read_text())
    assert 'data' in mj and 'train' not in mj and 'test' not in mj
    check_split(mj['data'], demo/'test')
    for p in PLOTS: png_ok(run/'batch7'/f'{p}_data.png')
    r = evaluate(run, demo/'test', '--out', 'batch7')          # exists: refused, nothing overwritten
    assert r.returncode == 1 and r.stderr.strip().startswith('error: ') and 'already exists' in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

def test_review_band_of_the_run(env, tmp_path):
    "A run with a review band: evaluate reports the share of parts per decision and the bounds, and predict decides with it."
    tmp, run, demo = env
    banded = Path(shutil.copytree(run, tmp_path/'banded', ignore=shutil.ignore_patterns('eval-*', 'batch7')))   # the model, not earlier evaluations
    meta = json.loads((banded/'model.json').read_text())
    (banded/'model.json').write_text(json.dumps({**meta, 'band': {'t_accept': 0.37, 't_reject': 0.6}}))
    r = evaluate(banded, demo/'test')
    assert r.returncode == 0, r.stderr
    assert 'review band: accept below 0.37, reject from 0.6' in r.stdout and 'to review' in r.stdout
    (ev,) = banded.glob('eval-*')
    m = json.loads((ev/'metrics.json').read_text())['data']
    assert abs(m['band_accept_rate'] + m['band_review_rate'] + m['band_reject_rate'] - 1) < 1e-9
    assert m['band_escapes'] == m['confusion']['fn'] and 0 < m['miss_rate_ub95'] <= 1
    r = run_cli('defect_qc.predict', banded, demo/'test', '--out', tmp_path/'p.csv', timeout=300)
    assert r.returncode == 0, r.stderr
    import pandas as pd
    df = pd.read_csv(tmp_path/'p.csv')
    want = np.where(df.p_defect < 0.37, 'accept', np.where(df.p_defect >= 0.6, 'reject', 'review'))
    assert (df.decision.values == want).all()
    # the band travels with an ONNX export
    assert run_cli('defect_qc.export', banded, '--format', 'onnx', timeout=300).returncode == 0
    r = run_cli('defect_qc.predict', banded, demo/'test', '--backend', 'onnx', '--out', tmp_path/'o.csv', timeout=300)
    assert r.returncode == 0, r.stderr
    assert (pd.read_csv(tmp_path/'o.csv').decision.values == want).all()

def test_unreadable_image_is_skipped_with_warning(env):
    tmp, run, demo = env
    flat = tmp/'withbad'
    shutil.copytree(demo/'test', flat)
    (flat/'def_front'/'broken.jpeg').write_bytes(b'\xff\xd8 not a jpeg')
    r = evaluate(run, flat, '--out', 'withbad')
    assert r.returncode == 0, r.stderr
    assert 'broken.jpeg' in r.stderr and 'Traceback' not in r.stderr
    mj = json.loads((run/'withbad'/'metrics.json').read_text())
    assert mj['n_unreadable'] == 1 and mj['data']['n'] == len(list_split(demo/'test')[0])

def test_error_is_one_line_exit_1(env):
    "As the shell sees it (the evaluation notebook checks each refused input in-process): one line, exit 1, no results folder."
    tmp, run, _ = env
    n_before = len(eval_dirs(run))
    r = evaluate(run, tmp/'nope')
    assert r.returncode == 1 and r.stdout == ''
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0] == f"error: {tmp/'nope'}: data folder not found", r.stderr
    assert len(eval_dirs(run)) == n_before                     # no empty results folder left behind

def test_real_data_subset(env, real_data, tmp_path):
    "A tiny run trained on 40 real images per class, evaluated on a different flat subset of 60 per class."
    tmp, _, _ = env
    rng = random.Random(0)
    train, flat = tmp_path/'train_root', tmp_path/'flat'
    for d in ('ok_front', 'def_front'):
        files = sorted((real_data/'train'/d).glob('*.jpeg'))
        pick = rng.sample(files, 100)
        for sub, fs in ((train/'train'/d, pick[:40]), (flat/d, pick[40:])):
            sub.mkdir(parents=True, exist_ok=True)
            for f in fs: shutil.copy(f, sub/f.name)
    run = make_tiny_run(tmp_path/'run', data=train, steps=30)
    r = evaluate(run, flat)
    assert r.returncode == 0, r.stderr
    (d,) = eval_dirs(run)
    mj = json.loads((d/'metrics.json').read_text())
    check_split(mj['data'], flat)
    assert mj['data']['n'] == 120 and mj['data']['n_pos'] == 60
    assert 0 <= mj['data']['roc_auc'] <= 1
    for p in PLOTS: png_ok(d/f'{p}_data.png')
    print(r.stdout)
