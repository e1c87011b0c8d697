"`python -m defect_qc.adapt` as a user calls it: a tiny demo run adapted to a second demo camera, then `predict` and `evaluate` on the adapted run."
import io, json
import pandas as pd
import pytest
from conftest import run_cli
from defect_qc.synth import make_camera_data, make_demo_data

@pytest.fixture(scope='module')
def env(tmp_path_factory):
    "A tiny run trained by the CLI on demo data, and a second demo camera (20 labelled, 30 unlabelled, 40 held back)."
    tmp = tmp_path_factory.mktemp('adapt')
    data = make_demo_data(tmp/'demo', 80, 10, size=64, seed=1)
    r = run_cli('defect_qc.train', f'data.path={data}', 'data.img_size=48', 'num_epochs=2', 'batch_size=16', 'mlflow.log_model=false',
                'card.data_check=false', 'card.plots=false', f'data.cache_dir={tmp/"cache"}', f'mlflow.tracking_uri=sqlite:///{tmp}/mlflow.db',
                f'hydra.run.dir={tmp/"run"}', cwd=tmp, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp, tmp/'run', make_camera_data(tmp/'cam2', n_labelled=20, n_unlabelled=30, n_test=40, size=64)

def adapt(*args, cwd=None): return run_cli('defect_qc.adapt', *args, cwd=cwd, timeout=900)

def test_adapted_run_predicts_and_evaluates(env):
    tmp, run, cam = env
    orig = {f.name: f.read_bytes() for f in run.iterdir() if f.is_file()}
    r = adapt(run, '--labelled', cam/'labelled', '--unlabelled', cam/'unlabelled', '--out', tmp/'new', '--folds', '2', '--epochs', '1',
              '--n-original', '40', '--levers', 'reference,adabn,finetune,threshold', cwd=tmp)
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert 'Adapted run' in r.stdout and '2-fold cross-validation' in r.stdout and 'cross-validation within the labelled photos' in r.stderr
    assert 'review band: accept below' in r.stderr
    new = tmp/'new'
    assert {'model.pth', 'model.json', 'metrics.json', 'model_card.md', 'adapt.json'} <= {f.name for f in new.iterdir()}
    meta, old = json.loads((new/'model.json').read_text()), json.loads((run/'model.json').read_text())
    assert meta['adapted_from']['mlflow_run_id'] == old['mlflow_run_id'] and meta['mlflow_run_id'] != old['mlflow_run_id']
    assert meta['adapted_from']['levers'] == ['reference', 'adabn', 'finetune', 'threshold'] and meta['adapted_from']['n_original'] == 40
    assert meta['prep']['reference'] != old['prep']['reference'] and meta['drift'] != old['drift'] and meta['threshold'] <= old['threshold']
    m = json.loads((new/'metrics.json').read_text())
    assert m['cv']['folds'] == 2 and m['cv']['n'] == 20 and len(m['cv']['accuracy_ci95']) == 2 and m['before']['n'] == 20
    card = (new/'model_card.md').read_text()
    assert str(cam/'labelled') in card and str(tmp/'demo') in card and 'AdaBN' in card and 'too few to bound' in card
    assert {f.name: f.read_bytes() for f in run.iterdir() if f.is_file()} == orig              # the original run is not changed
    import mlflow   # the MLflow run of the original's config, linked to the original
    (a,) = mlflow.MlflowClient(f'sqlite:///{tmp}/mlflow.db').search_runs([mlflow.MlflowClient(f'sqlite:///{tmp}/mlflow.db').get_experiment_by_name('defect_qc').experiment_id],
                                                                       f"tags.adapted_from_run_id = '{old['mlflow_run_id']}'")
    assert a.info.run_id == meta['mlflow_run_id'] and a.info.status == 'FINISHED'
    p = run_cli('defect_qc.predict', new, cam/'test', timeout=300)
    assert p.returncode == 0, p.stderr
    df = pd.read_csv(io.StringIO(p.stdout))
    assert len(df) == 40 and df.p_defect.between(0, 1).all() and set(df.label) <= {'ok', 'def'}
    b = meta['band']   # the adapted run's review band, from the out-of-fold scores: nothing below its reject threshold is rejected
    assert b['source'] == 'out-of-fold' and b['t_accept'] == meta['threshold'] and not ((df.decision == 'reject') & (df.p_defect < b['t_reject'])).any()
    assert ((df.decision == 'accept') == ((df.p_defect < b['t_accept']) & ~df.drift)).all()
    e = run_cli('defect_qc.evaluate', new, cam/'test', '--out', 'held_back', timeout=300)
    assert e.returncode == 0 and (new/'held_back'/'metrics.json').is_file(), e.stderr

def test_bad_input_is_one_line(env, tmp_path):
    "As the shell sees it (the adapt notebook checks each refused input in-process): one line, exit 1, earlier work kept."
    tmp, run, cam = env
    (tmp_path/'busy').mkdir(); (tmp_path/'busy'/'keep.txt').write_text('earlier work')
    r = adapt(run, '--labelled', cam/'labelled', '--unlabelled', cam/'unlabelled', '--out', tmp_path/'busy', '--tracking-uri', '', cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == '', r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {tmp_path/'busy'}: already exists and is not empty"], r.stderr
    assert (tmp_path/'busy'/'keep.txt').read_text() == 'earlier work'
