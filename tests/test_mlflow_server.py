"A real MLflow tracking server and a real scoring server on loopback: train against one, serve the registered model with the other."
import base64, json, signal, sys, time, urllib.request
from pathlib import Path
import pytest
from mlflow.tracking import MlflowClient
from conftest import run_cli, free_port, wait_http, start, stop, served, post

@pytest.fixture(scope='module')
def tracking_server(tmp_path_factory):
    "`python -m defect_qc.tracking` on a free port, started once for this file (it takes seconds): (URL, its process)."
    tmp, port = tmp_path_factory.mktemp('server'), free_port()
    p = start([sys.executable, '-m', 'defect_qc.tracking', '--store', str(tmp/'store'), '--port', str(port)], log=tmp/'server.log')
    p.stdout = open(tmp/'server.log')
    try:
        wait_http(f'http://127.0.0.1:{port}/health', p)
        yield f'http://127.0.0.1:{port}', p
    finally: stop(p)

def test_train_register_and_serve(tmp_path, tracking_server, cache_dir):
    uri, _ = tracking_server
    r = run_cli('defect_qc.train', 'num_epochs=2', 'data.img_size=48', f'mlflow.tracking_uri={uri}', 'mlflow.experiment_name=central',
                'mlflow.register_name=castings', 'mlflow.register_min_recall=0', 'mlflow.register_min_accuracy=0',
                cwd=tmp_path, env={'DEFECT_QC_CACHE': str(cache_dir)})
    assert r.returncode == 0, r.stderr[-3000:]
    assert not (tmp_path/'mlflow.db').exists()            # everything went to the server
    c = MlflowClient(uri)
    exp = c.get_experiment_by_name('central')
    (run,) = c.search_runs([exp.experiment_id])
    assert run.info.status == 'FINISHED'
    assert [m.step for m in c.get_metric_history(run.info.run_id, 'valid_loss')] == [1]   # 2 epochs: the second validated
    assert [m.step for m in c.get_metric_history(run.info.run_id, 'train_loss')] == [0, 1]
    arts = {a.path for a in c.list_artifacts(run.info.run_id, 'results')}
    assert {'results/metrics.json', 'results/confusion_matrix_val.png'} <= arts, arts
    (mv,) = c.search_model_versions("name='castings'")
    assert mv.version == '1' and 'val_recall' in mv.tags and 'threshold' in mv.tags
    # serve the registered model and score a demo image (and a path: off by default)
    from defect_qc.synth import demo_data
    img = sorted((demo_data(cache_dir=cache_dir)/'test'/'def_front').glob('*.jpeg'))[0]
    body = {'dataframe_split': {'columns': ['image', 'path'],
                                'data': [[base64.b64encode(img.read_bytes()).decode(), None], ['bm90IGFuIGltYWdl', None], [None, str(img)]]}}
    with served('models:/castings/1', tmp_path/'serve.log', env={'MLFLOW_TRACKING_URI': uri}) as url:
        status, text = post(f'{url}/invocations', body)
    assert status == 200, text
    preds = json.loads(text)['predictions']
    assert len(preds) == 3
    assert preds[2]['label'] == 'error' and 'path input is off' in preds[2]['error'] and preds[2]['p_defect'] is None
    preds = preds[:2]
    assert len(preds) == 2
    assert 0 <= preds[0]['p_defect'] <= 1 and preds[0]['label'] in ('ok', 'def') and not preds[0]['error']
    assert preds[1]['label'] == 'error' and preds[1]['error']
    assert preds[0]['ood_score'] >= 0 and isinstance(preds[0]['drift'], bool)   # the drift alarm, served too
    # the served answer is the run folder's model's answer
    from defect_qc.predict import Predictor
    run_dir = Path(run.data.tags['run_dir'])
    local = Predictor(run_dir).predict_paths([img])
    assert abs(local.p_defect[0] - preds[0]['p_defect']) < 1e-5

def test_sigterm_stops_the_tracking_server(tracking_server):
    "SIGTERM to `python -m defect_qc.tracking` stops the `mlflow server` it started: nothing left listening (this file's last test: it stops the server)."
    url, p = tracking_server
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)                          # to the python process only, as `kill PID` does
    assert p.wait(30) == 0
    time.sleep(1)
    with pytest.raises(OSError): urllib.request.urlopen(f'{url}/health', timeout=2)
