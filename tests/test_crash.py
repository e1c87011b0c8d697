"What a crash leaves behind, and how the next start cleans it up: `kill -9` of a real training, a tracking port in use."
import os, signal, socket, subprocess, sys, time
import pytest
from mlflow.tracking import MlflowClient
from conftest import run_cli, free_port, start, stop

TINY = ['data.img_size=48', 'mlflow.log_model=false', 'card.data_check=false', 'card.plots=false']

def _kill_9_during_training(tmp_path, cache_dir, uri):
    "Start a long training, wait until its MLflow run is RUNNING and an epoch is done, `kill -9` it; returns the run."
    env = {**os.environ, 'DEFECT_QC_CACHE': str(cache_dir)}; env.pop('IN_TEST', None)
    p = subprocess.Popen([sys.executable, '-m', 'defect_qc.train', 'num_epochs=200', 'early_stopping.enabled=false', *TINY,
                          f'mlflow.tracking_uri={uri}', 'hydra.run.dir=run'],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    for line in p.stdout:                      # wait until training is under way
        out.append(line)
        if line.startswith('1 '): break
    assert p.poll() is None, ''.join(out)
    c = MlflowClient(uri)
    (run,) = c.search_runs([c.get_experiment_by_name('defect_qc').experiment_id])
    assert run.info.status == 'RUNNING' and run.data.tags['defect_qc.pid'] == str(p.pid)
    assert (tmp_path/'run'/'STATUS').read_text().startswith(f'RUNNING: MLflow run {run.info.run_id}')
    p.kill(); p.communicate(timeout=60)        # SIGKILL: the process cannot mark its run
    assert p.returncode == -signal.SIGKILL
    assert c.get_run(run.info.run_id).info.status == 'RUNNING'
    return run

def test_kill_9_is_marked_killed_by_the_next_training(tmp_path, cache_dir):
    uri = f'sqlite:///{tmp_path}/mlflow.db'
    run = _kill_9_during_training(tmp_path, cache_dir, uri)
    r = run_cli('defect_qc.train', 'num_epochs=1', *TINY, f'mlflow.tracking_uri={uri}', 'hydra.run.dir=run2', cwd=tmp_path,
                env={'DEFECT_QC_CACHE': str(cache_dir)}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    c = MlflowClient(uri)
    assert c.get_run(run.info.run_id).info.status == 'KILLED'
    status = (tmp_path/'run'/'STATUS').read_text()
    assert status.startswith(f"KILLED: the training process ({run.data.tags['defect_qc.pid']} on ") and run.info.run_id in status, status
    assert f'MLflow run {run.info.run_id} ({tmp_path/"run"}) was left RUNNING' in r.stderr
    (new,) = [x for x in c.search_runs([run.info.experiment_id]) if x.info.run_id != run.info.run_id]
    assert new.info.status == 'FINISHED'
    assert (tmp_path/'run2'/'STATUS').read_text() == f'FINISHED: MLflow run {new.info.run_id}\n'
    # predict refuses the killed run's folder; a rerun there replaces its STATUS, and predict takes the folder again
    from defect_qc.synth import demo_data
    img = sorted((demo_data(cache_dir=cache_dir)/'test'/'def_front').glob('*.jpeg'))[0]
    r = run_cli('defect_qc.predict', tmp_path/'run', img)
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path/'run'}: its run did not finish (STATUS: KILLED"), r.stderr
    r = run_cli('defect_qc.train', 'num_epochs=1', *TINY, f'mlflow.tracking_uri={uri}', 'hydra.run.dir=run', cwd=tmp_path,
                env={'DEFECT_QC_CACHE': str(cache_dir)}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path/'run'/'STATUS').read_text().startswith('FINISHED: MLflow run ')
    r = run_cli('defect_qc.predict', tmp_path/'run', img)
    assert r.returncode == 0 and 'did not finish' not in r.stderr, r.stderr

def test_kill_9_is_marked_killed_by_the_tracking_server(tmp_path, cache_dir):
    "`python -m defect_qc.tracking --store S` sweeps the store it is about to serve."
    store = tmp_path/'store'; store.mkdir()
    uri = f'sqlite:///{store}/mlflow.db'
    run = _kill_9_during_training(tmp_path, cache_dir, uri)
    srv = start([sys.executable, '-m', 'defect_qc.tracking', '--store', str(store), '--port', str(free_port())], log=tmp_path/'server.log')
    try:
        c = MlflowClient(uri)
        for _ in range(600):                   # the sweep runs before the server starts; the test's timeout bounds the wait
            if c.get_run(run.info.run_id).info.status != 'RUNNING' or srv.poll() is not None: break
            time.sleep(0.2)
        assert c.get_run(run.info.run_id).info.status == 'KILLED', (tmp_path/'server.log').read_text()
        assert (tmp_path/'run'/'STATUS').read_text().startswith('KILLED: the training process')
    finally: stop(srv)

def test_tracking_server_on_a_port_in_use_fails_at_once(tmp_path):
    "One line and exit code 1 (was: the 'train against it' hint, Errno 98 after 78 s, exit 0); the test's timeout bounds it."
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0)); busy.listen(); port = busy.getsockname()[1]
        r = run_cli('defect_qc.tracking', '--store', tmp_path/'store', '--port', port, timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == '' and r.stderr.strip().splitlines() == [
        f"error: --port {port}: cannot listen on 127.0.0.1:{port} (Address already in use): stop what uses it or choose another --port"]
    assert not (tmp_path/'store').exists()
