"`python -m defect_qc.export` as a user calls it; exported models agree with PyTorch within 1e-4 (demo and real photos)."
import io, json
import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from defect_qc.images import image_args, load_image
from defect_qc.export import TOLERANCE, run_export
from defect_qc.models import load_model, predict_proba
from defect_qc.fixtures import make_tiny_run
from defect_qc.predict import Predictor
from defect_qc.synth import make_demo_data

@pytest.fixture(scope='module')
def env(tmp_path_factory, tiny_run):
    tmp = tmp_path_factory.mktemp('export')
    run = tiny_run(tmp/'run')
    demo = make_demo_data(tmp/'demo', 10, 10, size=300, seed=2)
    return tmp, run, demo

def _torch(run, files):
    m, meta = load_model(run)
    x = np.stack([load_image(f, **image_args(meta)) for f in files])
    return x, predict_proba(m, x, meta['mean'], meta['std'])

@pytest.mark.parametrize('fmt, fname', [('onnx', 'model.onnx'), ('torchscript', 'model.ts')])
def test_export_cli_matches_torch(env, fmt, fname):
    tmp, run, demo = env
    r = run_cli('defect_qc.export', run, '--format', fmt, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (run/fname).is_file() and 'wrote' in r.stdout
    info = json.loads((run/'export.json').read_text())
    assert info['input']['dtype'] == 'uint8' and info['input']['shape'] == ['batch', 1, 64, 64]
    assert info['threshold'] == 0.5 and info['formats'][fmt]['file'] == fname
    files = sorted(demo.rglob('*.jpeg'))
    x, pt = _torch(run, files)
    for n in (1, len(x)): np.testing.assert_allclose(run_export(run/fname, x[:n]), pt[:n], atol=TOLERANCE, rtol=0)

def test_predict_onnx_backend_cli(env):
    tmp, run, demo = env
    if not (run/'model.onnx').is_file(): assert run_cli('defect_qc.export', run).returncode == 0
    r_t = run_cli('defect_qc.predict', run, demo/'test', '--backend', 'torch')
    r_o = run_cli('defect_qc.predict', run, demo/'test', '--backend', 'onnx')
    r_a = run_cli('defect_qc.predict', run, demo/'test')   # no --backend: the export of this model.pth is used
    assert r_t.returncode == 0 and r_o.returncode == 0 and r_a.returncode == 0, r_o.stderr + r_a.stderr
    dt, do = pd.read_csv(io.StringIO(r_t.stdout)), pd.read_csv(io.StringIO(r_o.stdout))
    assert dt.path.tolist() == do.path.tolist()
    np.testing.assert_allclose(do.p_defect, dt.p_defect, atol=2e-6 + TOLERANCE)
    assert '[onnx' in r_o.stderr and '[torch' in r_t.stderr and '[onnx' in r_a.stderr
    assert r_a.stdout == r_o.stdout
    r_x = run_cli('defect_qc.predict', run, demo/'test', '--explain', tmp/'heat')   # heat maps need the torch model
    assert r_x.returncode == 0 and '[torch' in r_x.stderr, r_x.stderr

def test_export_without_model_is_one_line(env):
    tmp, run, demo = env
    r = run_cli('defect_qc.export', demo)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and 'no trained model here' in lines[0], r.stderr

def test_real_photos(real_data, tmp_path):
    "On real photos, with a barely trained model whose scores are mid-range (not saturated at 0 or 1)."
    from defect_qc.export import export_model
    run = make_tiny_run(tmp_path/'run', steps=2, seed=1)
    files = sorted((real_data/'train'/'def_front').glob('*.jpeg'))[:24] + sorted((real_data/'train'/'ok_front').glob('*.jpeg'))[:24]
    x, pt = _torch(run, files)
    assert 0.01 < pt.min() and pt.max() < 0.99
    for fmt in ('onnx', 'torchscript'):
        f = export_model(run, fmt)
        np.testing.assert_allclose(run_export(f, x), pt, atol=TOLERANCE, rtol=0)
    p = Predictor(run, backend='onnx').predict_paths(files)
    np.testing.assert_allclose(p.p_defect, pt, atol=TOLERANCE, rtol=0)
