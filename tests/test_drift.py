"The drift alarm as a user meets it: `python -m defect_qc.predict` on ordinary photos and on photos of another kind."
import io, json
import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps
from conftest import run_cli

@pytest.fixture(scope='module')
def run(tmp_path_factory):
    "A short real training run on demo data (canonical crop and drift alarm on, as by default)."
    from defect_qc.synth import make_demo_data
    tmp = tmp_path_factory.mktemp('drift')
    data = make_demo_data(tmp/'demo', n_train=1000, n_test=40, size=128, seed=5)   # 200 validation photos calibrate the alarm
    # no tilts: after 4 epochs on 240 photos (the fixture had that many then), a model trained with them has unsettled features, and the appearance check
    # flagged 3.3% of 400 fresh demo photos (13; 5.5% with position and shape) where its calibration aims at 1%.
    r = run_cli('defect_qc.train', f'data.path={data}', 'data.img_size=64', 'num_epochs=4', 'batch_size=32', 'data.aug.max_tilt=0',
                f'data.cache_dir={tmp/"cache"}', f'hydra.run.dir={tmp/"run"}', f'mlflow.tracking_uri=sqlite:///{tmp/"mlflow.db"}',
                'mlflow.register_name=null', 'card.plots=false', cwd=tmp, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return tmp, tmp/'run', data

def predict(run_dir, *inputs):
    r = run_cli('defect_qc.predict', run_dir, *inputs, timeout=300)
    assert r.returncode == 0, r.stderr
    return pd.read_csv(io.StringIO(r.stdout)), r.stderr

def test_reference_is_saved_with_the_model(run):
    _, run_dir, _ = run
    meta = json.loads((run_dir/'model.json').read_text())
    assert meta['prep']['mask_radius'] == 0.5 and len(meta['prep']['reference']) > 10
    assert {'size', 'background', 'shape', 'appearance'} <= set(meta['drift']['checks'])

def test_ordinary_photos_are_not_flagged(run):
    """New photos from the same demo set-up are rarely flagged, on any CPU (bf16 or fp32 training).

    The alarm is calibrated on the run's validation photos. With 48 of them (240 demo photos) it flagged 3.75-4.25% of
    400 new ones (15-17, mostly by part position: a 1% quantile of 48 values is a guess), one binomial standard deviation
    under the 5% limit. With 200 (1,000 demo photos) it flags 1.75% with bf16 and 2.0% with fp32 training on AVX2 kernels
    (7 and 8 of 400): the limit lies more than 4 standard deviations above that."""
    tmp, run_dir, _ = run
    from defect_qc.synth import make_demo_data
    fresh = make_demo_data(tmp/'fresh', n_train=0, n_test=400, size=128, seed=6)   # never seen by training or calibration
    df, err = predict(run_dir, fresh/'test')
    assert {'ood_score', 'drift'} <= set(df.columns) and df.error.isna().all() and len(df) == 400
    assert df.drift.mean() <= 0.05, df[df.drift][['path', 'ood_score', 'drift_reason']]
    assert ('do not look like the training images' in err) == df.drift.any()

def _variants(data, dest):
    "Inverted, heavily blurred and other-object versions of a few test photos, as files."
    dest.mkdir(exist_ok=True)
    files = sorted((data/'test').rglob('*.jpeg'))[:8]
    for i, f in enumerate(files):
        im = Image.open(f).convert('L')
        ImageOps.invert(im).save(dest/f'inverted_{i}.png')
        im.filter(ImageFilter.GaussianBlur(8)).save(dest/f'blurred_{i}.png')
        other = Image.new('L', im.size, 90); d = ImageDraw.Draw(other)   # a square plate with bolt holes, not a round casting
        s = im.size[0]; d.rectangle([s*0.2, s*0.25, s*0.8, s*0.75], fill=200)
        for cx in (0.3, 0.7): d.ellipse([s*cx - 6, s*0.5 - 6, s*cx + 6, s*0.5 + 6], fill=30)
        other.rotate(7*i, fillcolor=90).save(dest/f'other_{i}.png')
    return dest

def test_photos_of_another_kind_are_flagged(run):
    tmp, run_dir, data = run
    df, err = predict(run_dir, _variants(data, tmp/'odd'))
    kind = df.path.map(lambda p: p.split('/')[-1].split('_')[0])
    for k in ('inverted', 'blurred', 'other'):
        assert df.drift[kind == k].mean() >= 0.75, (k, df[kind == k][['path', 'ood_score', 'drift_reason']])
    assert (df.ood_score[df.drift] > 1).all() and (df.drift_reason[df.drift].str.len() > 0).all()
    n = int(df.drift.sum())
    assert f"warning: {n} of {len(df)} images do not look like the training images (" in err
    assert 'check the camera set-up' in err

def test_onnx_backend_raises_the_same_alarm(run):
    tmp, run_dir, data = run
    r = run_cli('defect_qc.export', run_dir, '--format', 'onnx', '--out', tmp/'export', timeout=600)   # an export folder on its own
    assert r.returncode == 0, r.stderr
    odd = _variants(data, tmp/'odd')
    t, _ = predict(run_dir, odd, data/'test')
    o, err = predict_backend(tmp/'export', 'onnx', odd, data/'test')
    np.testing.assert_allclose(o.p_defect, t.p_defect, atol=1e-4)   # the same crop and the same model
    assert (t.path == o.path).all()
    np.testing.assert_allclose(o.ood_score, t.ood_score, rtol=1e-3, atol=1e-3)
    assert (o.drift == t.drift).mean() >= 0.98 and o.drift.any()

def predict_backend(run_dir, backend, *inputs):
    r = run_cli('defect_qc.predict', run_dir, *inputs, '--backend', backend, timeout=300)
    assert r.returncode == 0, r.stderr
    return pd.read_csv(io.StringIO(r.stdout)), r.stderr

def _blank_frames(dest):
    "Frames that show no part: all black, all white, mid-grey, 1x1, and noise (the size of the demo photos otherwise)."
    dest.mkdir(exist_ok=True)
    Image.new('L', (128, 128), 0).save(dest/'black.png'); Image.new('L', (128, 128), 255).save(dest/'white.png')
    Image.new('RGB', (128, 128), (128, 128, 128)).save(dest/'flat.jpeg'); Image.new('L', (1, 1), 90).save(dest/'one_pixel.png')
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (128, 128), dtype=np.uint8)).save(dest/'noise.png')
    return dest

def _never_accepted(df):
    assert (df.decision == 'review').all() and df.drift.all(), df[['path', 'p_defect', 'decision', 'drift_reason']]
    assert (df.drift_reason.fillna('').str.len() > 0).all(), df[['path', 'drift_reason']]

def test_blank_frames_go_to_review_in_every_path(run):
    "Black, white, flat, 1x1 and noise frames: review with a reason from the CLI, the Predictor, the served model and an ONNX export."
    from defect_qc.predict import Predictor
    from defect_qc.tracking import DefectModel, image_frame
    from types import SimpleNamespace
    tmp, run_dir, _ = run
    blank = _blank_frames(tmp/'blank')
    files = sorted(blank.iterdir())
    df, err = predict(run_dir, blank)
    _never_accepted(df)
    assert df.set_index(df.path.map(lambda p: p.split('/')[-1])).drift_reason[['black.png', 'white.png', 'flat.jpeg', 'one_pixel.png']].str.startswith('blank frame').all()
    line = next(l for l in err.splitlines() if 'do not look like the training images' in l)
    assert line.startswith('warning: 5 of 5 images') and 'blank frame' in line, err
    _never_accepted(Predictor(run_dir).predict_paths(files).assign(path=[str(f) for f in files]))
    for t in (0., 1.): _never_accepted(Predictor(run_dir, threshold=t).predict_paths(files))   # whatever the score says
    served = DefectModel(); served.load_context(SimpleNamespace(artifacts={'model_dir': str(run_dir)}, model_config={}))
    out = served.predict(None, image_frame(files))
    assert (out.decision == 'review').all() and out.drift.all() and (out.drift_reason.str.len() > 0).all(), out
    ex = tmp/'export_blank'
    for fmt in ('onnx', 'torchscript'):   # the exported graphs: the same decisions and reasons
        r = run_cli('defect_qc.export', run_dir, '--format', fmt, '--out', ex, timeout=600)
        assert r.returncode == 0, r.stderr
        o, _ = predict_backend(ex, fmt, blank)
        assert (o.decision == df.decision).all() and (o.drift_reason == df.drift_reason).all(), (fmt, o)

def test_drifting_photos_are_not_accepted_under_a_band(run, tmp_path):
    "A run with a review band that would accept nearly every photo: the drifting ones go to review, the ordinary ones are accepted."
    import shutil
    from pathlib import Path
    tmp, run_dir, data = run
    banded = Path(shutil.copytree(run_dir, tmp_path/'banded'))
    meta = json.loads((banded/'model.json').read_text())
    (banded/'model.json').write_text(json.dumps({**meta, 'threshold': 0.999, 'band': {'t_accept': 0.999, 't_reject': 0.9999}}))
    df, _ = predict(banded, _variants(data, tmp/'odd'), data/'test')
    assert df.drift.any() and (~df.drift).any()
    assert (df.decision[df.drift] == 'review').all(), df[df.drift][['path', 'p_defect', 'decision']]
    assert (df.decision[~df.drift & (df.p_defect < 0.999)] == 'accept').all()
