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
def server(tmp_path_factory, tiny_run):
    "A tiny model logged from code to a SQLite store, served with `DEFECT_QC_PATH_ROOT` = an `allowed/` folder, at most 16 rows and 40 MP per request."
    import mlflow
    from defect_qc.synth import make_demo_data
    from defect_qc.tracking import log_model
    tmp = tmp_path_factory.mktemp('serve')
    run = tiny_run(tmp/'run')
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
    env = {'MLFLOW_TRACKING_URI': uri, 'DEFECT_QC_PATH_ROOT': str(root), 'DEFECT_QC_MAX_IMAGE_BYTES': '1000000', 'DEFECT_QC_MAX_ROWS': '16',
           'DEFECT_QC_MAX_REQUEST_PIXELS': '40000000'}
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

def one_line_400(status, text, message):
    "A refusal: HTTP 400 whose JSON message is exactly `message`, one line, no stack trace."
    assert status == 400, text
    r = strict_json(text)
    assert r['message'] == message and '\n' not in r['message'] and 'stack_trace' not in r, r

def test_too_many_rows_are_refused_before_decoding(server):
    rows = [['not base64 !']]*17                                 # one over DEFECT_QC_MAX_ROWS=16
    status, text = post(server['url'], {'dataframe_split': {'columns': ['image'], 'data': rows}})
    one_line_400(status, text, "17 rows in one request: this server takes at most 16 (send smaller batches)")
    status, text = post(server['url'], {'dataframe_split': {'columns': ['image'], 'data': rows[:16]}}, timeout=120)
    assert status == 200 and len(strict_json(text)['predictions']) == 16, text

def test_too_many_pixels_are_refused_before_decoding(server):
    import io
    def png(side):
        b = io.BytesIO(); Image.new('L', (side, side), 128).save(b, 'PNG'); return b64(b.getvalue())   # a few kB each
    big, small = png(5000), png(3000)                            # 25 and 9 million pixels; the server takes 40 million
    status, text = post(server['url'], {'dataframe_split': {'columns': ['image'], 'data': [[big], [small], [big]]}})
    one_line_400(status, text, "the request's images hold 59,000,000 pixels: this server takes at most 40,000,000 per request (send fewer or smaller images)")
    status, text = post(server['url'], {'dataframe_split': {'columns': ['image'], 'data': [[big], [small]]}}, timeout=120)
    assert status == 200, text
    assert [p['error'] for p in strict_json(text)['predictions']] == ['', ''], text

def test_the_clients_threshold_is_honoured_or_refused(server):
    img = [[b64(server['good'].read_bytes())]]
    ask = lambda params: post(server['url'], {'dataframe_split': {'columns': ['image'], 'data': img}, 'params': params}, timeout=120)
    p = {t: strict_json(ask({'threshold': t})[1])['predictions'][0] for t in (0.0, 1.0)}
    assert (p[0.0]['label'], p[0.0]['decision']) == ('def', 'reject'), p        # every image is a defect at 0
    assert p[1.0]['label'] == ('def' if p[1.0]['p_defect'] >= 1 else 'ok'), p
    one_line_400(*ask({'threshold': 1.5}), "params.threshold: '1.5' must be a number in [0, 1]")

def test_explain_is_read_strictly(server):
    img = b64(server['good'].read_bytes())
    body = lambda flags: {'dataframe_split': {'columns': ['image', 'explain'], 'data': [[img, f] for f in flags]}}
    status, text = post(server['url'], body(['false', 'FALSE', False, None]), timeout=120)
    assert status == 200 and all('heatmap' not in p for p in strict_json(text)['predictions']), text   # no heat map: not asked
    status, text = post(server['url'], body(['true', False]), timeout=120)
    assert status == 200, text
    assert [p['heatmap'] != '' for p in strict_json(text)['predictions']] == [True, False]
    for flag in ('no', '0'): one_line_400(*post(server['url'], body([True, flag])), f"explain (row 1): '{flag}' is not true or false")
