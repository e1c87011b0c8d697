"`python -m defect_qc.predict` as a user calls it: inputs, outputs, exit codes and error messages."
import io, json
import pandas as pd
import pytest
from conftest import run_cli
from defect_qc.synth import make_demo_data

COLS = ['path', 'p_defect', 'label', 'decision', 'error', 'ood_score', 'drift', 'drift_reason']

@pytest.fixture(scope='module')
def env(tmp_path_factory, tiny_run):
    tmp = tmp_path_factory.mktemp('predict')
    run = tiny_run(tmp/'run')
    demo = make_demo_data(tmp/'demo', 20, 10, size=64, seed=1)
    bad = tmp/'broken.jpeg'; bad.write_bytes(b'\xff\xd8 not a jpeg')
    return tmp, run, demo, bad

def predict(*args): return run_cli('defect_qc.predict', *args, timeout=300)

def test_mixed_inputs_csv_to_stdout(env):
    tmp, run, demo, bad = env
    f = sorted((demo/'test'/'ok_front').glob('*.jpeg'))[0]
    r = predict(run, f, demo/'test'/'def_front', str(demo/'train'/'ok_front'/'*.jpeg'), bad)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(io.StringIO(r.stdout))
    assert df.columns.tolist() == COLS
    n = 1 + len(list((demo/'test'/'def_front').glob('*.jpeg'))) + len(list((demo/'train'/'ok_front').glob('*.jpeg'))) + 1
    assert len(df) == n and df.path[0] == str(f)
    assert df.loc[df.path == str(bad), 'label'].item() == 'error'
    ok = df[df.label != 'error']
    assert len(ok) == n - 1 and ok.p_defect.between(0, 1).all() and set(ok.label) <= {'ok', 'def'}
    assert (ok.label == ok.p_defect.ge(0.5).map({True: 'def', False: 'ok'})).all()   # the run's threshold, 0.5
    assert f"warning: {bad}: unreadable image" in r.stderr and 'images/s' in r.stderr
    assert 'Traceback' not in r.stderr

def test_threshold_and_json_out(env):
    tmp, run, demo, bad = env
    out = tmp/'sub'/'preds.json'
    r = predict(run, demo/'test', '--threshold', '0', '--out', out)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ''                      # with --out nothing goes to stdout
    recs = json.loads(out.read_text())
    assert list(recs[0]) == COLS and len(recs) == len(list((demo/'test').rglob('*.jpeg')))
    assert {d['label'] for d in recs} == {'def'} and all(d['error'] is None for d in recs)
    r = predict(run, demo/'test', '--threshold', '1.5')
    assert r.returncode == 2 and r.stderr.strip().startswith('error: --threshold')

def test_nothing_classified_exits_1_but_writes_rows(env):
    tmp, run, demo, bad = env
    out = tmp/'bad.csv'
    r = predict(run, bad, tmp/'missing.png', '--out', out)
    assert r.returncode == 1
    assert pd.read_csv(out).label.tolist() == ['error', 'error']
    assert 'no image could be classified' in r.stderr and 'Traceback' not in r.stderr
    r = predict(run, str(tmp/'nothing'/'*.png'))
    assert r.returncode == 1 and 'matches no image file' in r.stderr

@pytest.mark.parametrize('args, msg', [((), 'no trained model here'), (('--backend', 'onnx'), 'defect_qc.export')])
def test_model_errors_are_one_line(env, args, msg):
    tmp, run, demo, bad = env
    rd = tmp/'demo' if not args else run       # a folder without a model; a run without an ONNX export
    r = predict(rd, demo/'test', *args)
    assert r.returncode == 1 and r.stdout == ''
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and msg in lines[0], r.stderr

def test_bad_out_suffix(env):
    tmp, run, demo, bad = env
    r = predict(run, demo/'test', '--out', tmp/'p.xlsx')
    assert r.returncode == 2 and 'use a .csv or .json file' in r.stderr

def test_explain_writes_a_heat_map_per_image(env, tmp_path):
    from PIL import Image
    tmp, run, demo, bad = env
    files = sorted((demo/'test'/'def_front').glob('*.jpeg'))[:3]
    r = predict(run, *files, bad, '--explain', tmp_path/'heat', '--out', tmp_path/'p.csv')
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path/'p.csv', keep_default_na=False)
    assert df.columns.tolist() == COLS + ['heatmap'] and df.heatmap.iloc[-1] == ''
    pngs = sorted((tmp_path/'heat').glob('*.png'))
    assert [str(p) for p in pngs] == df.heatmap.iloc[:3].tolist() and pngs[0].name == f'0_{files[0].stem}.png'
    with Image.open(pngs[0]) as im: assert im.mode == 'RGB' and im.size == (64, 64)
    r = predict(run, *files, '--backend', 'onnx', '--explain', tmp_path/'heat2')
    assert r.returncode == 2 and r.stderr.strip() == "error: --explain: Grad-CAM needs --backend torch (the model's gradients), not onnx"
    assert not (tmp_path/'heat2').exists()
