"`python -m defect_qc.train` as a user calls it: no args, overrides, a wrong key, bad data (real data: `test_train_real.py`)."
import json, re
import pytest
from mlflow.tracking import MlflowClient
from conftest import run_cli, run_dirs

def test_no_args_trains_on_demo_data(tmp_path, cache_dir):
    r = run_cli('defect_qc.train', cwd=tmp_path, env={'DEFECT_QC_CACHE': str(cache_dir)})
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'SYNTHETIC DEMO DATA' in r.stdout
    (run,) = run_dirs(tmp_path)
    assert re.fullmatch(r'\d{4}-\d{2}-\d{2}', run.parent.name) and re.fullmatch(r'\d{2}-\d{2}-\d{2}-\d+', run.name)   # time and process id
    for f in ['.hydra/config.yaml', '.hydra/overrides.yaml', 'model.pth', 'model.json', 'metrics.json',
              'confusion_matrix_val.png', 'confusion_matrix_test.png']:
        assert (run/f).is_file() and (run/f).stat().st_size > 0, f
    m = json.loads((run/'metrics.json').read_text())
    assert {'val', 'test', 'threshold'} <= set(m)
    # the demo defects are learnable: well above chance (0.5). The default config reaches ROC-AUC 1.0 on the 200 demo
    # validation images here (0.95 before the part finder); from-scratch training on so few images swings with the seed and
    # the CPU's precision, so the bound is loose on purpose.
    assert m['val']['roc_auc'] >= 0.7, m['val']
    # tracked in ./mlflow.db by default, with per-epoch history: training losses of every epoch, validation of the second half
    assert (tmp_path/'mlflow.db').is_file()
    c = MlflowClient(f"sqlite:///{tmp_path/'mlflow.db'}")
    (r0,) = c.search_runs([c.get_experiment_by_name('defect_qc').experiment_id])
    assert r0.info.status == 'FINISHED'
    n = m['epochs_run']
    assert [h.step for h in c.get_metric_history(r0.info.run_id, 'train_loss')] == list(range(n))
    assert [h.step for h in c.get_metric_history(r0.info.run_id, 'valid_loss')] == list(range(n // 2, n))   # checkpoint.validate_from=0.5
    assert f'Better model found at epoch {n // 2} ' in r.stdout and 'Better model found at epoch 0 ' not in r.stdout
    # the precision `auto` chose on this CPU is recorded, so runs from two machines can be told apart
    from defect_qc.train import resolve_precision
    assert m['precision'] == r0.data.tags['precision'] == resolve_precision('auto') in ('bf16', 'fp32'), (m.get('precision'), r0.data.tags)

def test_overrides_reach_the_run(tmp_path, cache_dir):
    r = run_cli('defect_qc.train', 'num_epochs=2', 'data.img_size=64', 'mlflow.experiment_name=ovr', 'mlflow.log_model=false', 'card.plots=false',
                'threshold.band=true', 'threshold.mode=bound', cwd=tmp_path, env={'DEFECT_QC_CACHE': str(cache_dir)})
    assert r.returncode == 0, r.stderr[-3000:]
    (run,) = run_dirs(tmp_path)
    cfg = (run/'.hydra/config.yaml').read_text()
    assert 'img_size: 64' in cfg and 'num_epochs: 2' in cfg
    assert 'num_epochs=2' in (run/'.hydra/overrides.yaml').read_text()
    assert json.loads((run/'model.json').read_text())['img_size'] == 64
    assert json.loads((run/'metrics.json').read_text())['epochs_run'] == 2
    assert not list(run.glob('*.png'))   # card.plots=false: the metrics without the plots
    # the review band and the bound-mode threshold reach the model, the metrics, the log and the model card
    meta, m = json.loads((run/'model.json').read_text()), json.loads((run/'metrics.json').read_text())
    assert meta['threshold_mode'] == 'bound' and meta['band']['t_accept'] == meta['threshold'] <= meta['band']['t_reject']
    assert {'band_review_rate', 'band_escape_rate_ub95', 'miss_rate_ub95'} <= set(m['val']) and 'band_review_rate' in m['test']
    assert 'review band: accept below' in r.stdout and 'escape rate <=' in r.stdout
    card = (run/'model_card.md').read_text()
    assert 'Review band: accept below' in card and 'threshold.band=true' in card and '## Known limitations' in card
    assert f"Trained in {m['precision']} (what `precision: auto` chose on that machine)" in card   # how to reproduce it elsewhere

def test_wrong_key_is_refused(tmp_path):
    r = run_cli('defect_qc.train', 'num_epoch=3', cwd=tmp_path)
    assert r.returncode != 0
    assert 'num_epoch' in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'mlflow.db').exists()

# each refused value's message is tested in the training notebook (`check_config`, and the command in-process); here,
# as a user's shell sees it, one refused by its type (Hydra) and one by its range (the schema's check)
@pytest.mark.parametrize('override,msg', [
    ('num_epochs=abc', "error: num_epochs: 'abc' is not allowed (expected an integer >= 1)"),
    ('data.valid_pct=1.5', "error: data.valid_pct: 1.5 is not allowed (expected a number between 0 and 1, both excluded)")])
def test_bad_values_are_refused_before_any_work(tmp_path, override, msg):
    r = run_cli('defect_qc.train', override, cwd=tmp_path, env={'DEFECT_QC_CACHE': str(tmp_path/'cache')})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == msg and 'Traceback' not in r.stderr
    assert not (tmp_path/'mlflow.db').exists() and not (tmp_path/'cache').exists()   # no run, no demo data made

def test_unreachable_tracking_server_fails_fast(tmp_path):
    "One line naming the URI, in seconds: not MLflow's minutes of retries and five tracebacks (the timeout is the bound)."
    r = run_cli('defect_qc.train', 'mlflow.tracking_uri=http://127.0.0.1:1', cwd=tmp_path, timeout=120)
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1] == ("error: mlflow.tracking_uri: cannot reach http://127.0.0.1:1 (Connection refused): "
                                                "start the server or fix the URI")

def test_missing_data_path(tmp_path):
    r = run_cli('defect_qc.train', f'data.path={tmp_path}/nope', cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == f"error: data.path: folder not found: {tmp_path}/nope"
    assert 'Traceback' not in r.stderr

def test_unreadable_images_stop_before_training(tmp_path, cache_dir):
    from defect_qc.fixtures import write_fixture
    root = write_fixture(tmp_path/'data', {'train': {'ok': 10, 'def': 10}})
    (root/'train/def_front/broken.jpeg').write_bytes((root/'train/def_front/cast_def_0_0.jpeg').read_bytes()[:200])
    # batch_size=8: 20 images hold no batch of the default 64, which is refused before anything is decoded
    r = run_cli('defect_qc.train', f'data.path={root}', 'num_epochs=1', 'batch_size=8', cwd=tmp_path, env={'DEFECT_QC_CACHE': str(cache_dir)})
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('error: 1 unreadable image(s): ') and 'broken.jpeg' in last, last
    assert 'Traceback' not in r.stderr
    assert not run_dirs(tmp_path) or not (run_dirs(tmp_path)[0]/'model.pth').exists()
    # opting in skips them
    r = run_cli('defect_qc.train', f'data.path={root}', 'num_epochs=1', 'batch_size=8', 'data.skip_bad_images=true', 'mlflow.log_model=false', 'card.plots=false',
                cwd=tmp_path, env={'DEFECT_QC_CACHE': str(cache_dir)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'skipping 1 unreadable image(s)' in r.stderr

@pytest.mark.slow
@pytest.mark.parametrize('sig', ['SIGTERM', 'SIGINT'])
def test_a_signal_ends_the_run_killed(tmp_path, cache_dir, sig):
    "SIGTERM (what `timeout`, SLURM and Kubernetes send) and Ctrl-C end the MLflow run KILLED and say so in the run folder."
    import os, signal, subprocess, sys
    env = {**os.environ, 'DEFECT_QC_CACHE': str(cache_dir)}; env.pop('IN_TEST', None)
    p = subprocess.Popen([sys.executable, '-m', 'defect_qc.train', 'num_epochs=200', 'early_stopping.enabled=false', 'data.img_size=48',
                          'hydra.run.dir=run'], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # as a terminal starts it, whatever runs pytest
    for line in p.stdout:                      # wait until training is under way
        if line.startswith('1 '): break
    p.send_signal(getattr(signal, sig))
    out = p.communicate(timeout=120)[0]
    assert p.returncode == 128 + getattr(signal, sig), out              # as the shell reports a command the signal stopped
    assert out.strip().splitlines()[-1] == f'error: stopped by {sig}' and 'Traceback' not in out, out
    assert f"ended KILLED, as {tmp_path/'run'/'STATUS'} says" in out, out
    c = MlflowClient(f'sqlite:///{tmp_path}/mlflow.db')
    (run,) = c.search_runs([c.get_experiment_by_name('defect_qc').experiment_id])
    assert run.info.status == 'KILLED'
    assert (tmp_path/'run'/'STATUS').read_text().startswith('KILLED')

def test_two_runs_at_once_in_a_fresh_folder(tmp_path, cache_dir):
    "Two trainings started together in a new folder: two run folders, two MLflow runs, each with its own model."
    import os, subprocess, sys
    env = {**os.environ, 'DEFECT_QC_CACHE': str(cache_dir)}; env.pop('IN_TEST', None)
    cmd = [sys.executable, '-m', 'defect_qc.train', 'num_epochs=1', 'data.img_size=48', 'mlflow.register_name=null', 'card.plots=false']
    ps = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in ps]
    assert [p.returncode for p in ps] == [0, 0], outs
    dirs = run_dirs(tmp_path)
    assert len(dirs) == 2 and all((d/'model.pth').is_file() for d in dirs)
    c = MlflowClient(f'sqlite:///{tmp_path}/mlflow.db')
    runs = c.search_runs([c.get_experiment_by_name('defect_qc').experiment_id])
    assert sorted(r.info.status for r in runs) == ['FINISHED', 'FINISHED']
    assert sorted(r.data.tags['run_dir'] for r in runs) == sorted(str(d.resolve()) for d in dirs)
