"The served model as an attacker meets it: a real `mlflow models serve` with paths allowed under one folder."
import base64, json, os
import pytest
from PIL import Image
from conftest import served, post

def strict_json(text):
    "Parse JSON as a strict client does: NaN or Infinity is an error."
    def bad(c): raise ValueError(f"not valid JSON: {c}")
    return json.loads(text, parse_constant=bad)

@pytest.fixture(scope='module')
def server(tmp_path_factory):
    "A tiny model logged from code to a SQLite store, served with `DEFECT_QC_PATH_ROOT` = an `allowed/` folder."
    import mlflow
    from defect_qc.fixtures import make_tiny_run
    from defect_qc.synth import make_demo_data
    from defect_qc.tracking import log_model
    tmp = tmp_path_factory.mktemp('serve')
    run = make_tiny_run(tmp/'run')
    demo = make_demo_data(tmp/'demo', 10, 4, size=64, seed=3)
    good = sorted((demo/'test'/'def_front').glob('*.jpeg'))[0]
    root = tmp/'allowed'; root.mkdir()
    (root/'good.jpeg').write_bytes(good.read_bytes())
    os.mkfifo(root/'fifo.jpeg')
    (tmp/'secret.jpeg').write_bytes(good.read_bytes())
    (root/'link.jpeg').symlink_to(tmp/'secret.jpeg')       # a link out of the folder
    Image.new('L', (12000, 12000)).save(tmp/'bomb.png')
    meta = json.loads((run/'model.json').read_text())          # a review band, as `threshold.band=true` saves it
    (run/'model.json').write_text(json.dumps({**meta, 'threshold': 0.3, 'band': {'t_accept': 0.3, 't_reject': 0.7}}))
    uri = f'sqlite:///{tmp}/mlflow.db'
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment('serving', artifact_location=(tmp/'artifacts').as_uri())   # not ./mlruns
    with mlflow.start_run(experiment_id=exp): info = log_model(run)
    env = {'MLFLOW_TRACKING_URI': uri, 'DEFECT_QC_PATH_ROOT': str(root), 'DEFECT_QC_MAX_IMAGE_BYTES': '1000000'}
    with served(info.model_uri, tmp/'serve.log', env=env) as url:
        yield dict(url=f'{url}/invocations', tmp=tmp, root=root, good=good, log=tmp/'serve.log')

b64 = lambda b: base64.b64encode(b).decode()
NOT_ALLOWED = 'path: not allowed or not readable'

def test_a_batch_with_bad_rows_is_scored_row_by_row(server):
    s = server
    rows = [[b64(s['good'].read_bytes()), None],                      # 0 fine
            [b64((s['tmp']/'bomb.png').read_bytes()), None],          # 1 decompression bomb
            [b64(b'\0'*1_100_000), None],                             # 2 over the size limit
            ['not base64 !', None],                                   # 3
            [None, 'good.jpeg'], [None, str(s['root']/'good.jpeg')],  # 4, 5 inside the folder: scored
            [None, 'fifo.jpeg'],                                      # 6 a FIFO: refused, does not hang
            [None, 'link.jpeg'], [None, '../secret.jpeg'], [None, '/etc/passwd'],   # 7-9 outside
            [None, 'missing.jpeg'], [None, '.']]                      # 10, 11 missing, a folder
    status, text = post(s['url'], {'dataframe_split': {'columns': ['image', 'path'], 'data': rows}}, timeout=120)
    assert status == 200, text
    p = strict_json(text)['predictions']
    assert len(p) == len(rows)
    for i in (0, 4, 5): assert p[i]['label'] in ('ok', 'def') and 0 <= p[i]['p_defect'] <= 1 and p[i]['error'] == '', p[i]
    assert p[4]['p_defect'] == p[5]['p_defect'] == pytest.approx(p[0]['p_defect'])
    for i in (0, 4, 5): assert p[i]['decision'] == ('accept' if p[i]['p_defect'] < 0.3 else 'reject' if p[i]['p_defect'] >= 0.7 else 'review'), p[i]
    for i in (1, 2, 3, *range(6, 12)):
        assert p[i]['label'] == 'error' and p[i]['p_defect'] is None and p[i]['ood_score'] is None and p[i]['decision'] == 'review', p[i]
    assert 'over the limit' in p[1]['error'] and 'size limit' in p[2]['error'] and 'base64' in p[3]['error']
    assert {p[i]['error'] for i in range(6, 12)} == {NOT_ALLOWED}    # the same line whether the file exists or not
    assert 'Traceback' not in text and 'secret' not in text

@pytest.mark.parametrize('body', [
    {'dataframe_split': {'columns': ['file'], 'data': [['x.jpeg']]}},  # an unknown column
    {'dataframe_split': {'columns': ['images'], 'data': [['aGk=']]}},   # a typo
])
def test_a_request_without_image_or_path_is_a_400_with_one_line(server, body):
    status, text = post(server['url'], body)
    assert status == 400, text
    r = strict_json(text)
    assert r['message'] == "the input needs a column 'image' (base64-encoded image files) or 'path'"
    assert 'stack_trace' not in r and '\n' not in r['message']

def test_heat_maps_on_request(server):
    from PIL import Image
    import io
    s = server
    body = {'dataframe_split': {'columns': ['image'], 'data': [[b64(s['good'].read_bytes())], ['bm90IGFuIGltYWdl']]}, 'params': {'explain': True}}
    status, text = post(s['url'], body, timeout=120)
    assert status == 200, text
    p = strict_json(text)['predictions']
    with Image.open(io.BytesIO(base64.b64decode(p[0]['heatmap']))) as im: assert im.format == 'PNG' and im.mode == 'RGB'
    assert p[1]['heatmap'] == '' and p[1]['decision'] == 'review'
