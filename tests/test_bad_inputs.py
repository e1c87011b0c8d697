"Odd images through the command lines: 16-bit PNGs and decompression bombs. (A start on the matrix of issue 13.)"
import io, json
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from conftest import run_cli

@pytest.fixture(scope='module')
def env(tmp_path_factory, tiny_run):
    "A tiny run, a few demo photos, a 16-bit copy of one and a decompression bomb (zeros: a small file, 144M pixels)."
    from defect_qc.synth import make_demo_data
    tmp = tmp_path_factory.mktemp('bad')
    run = tiny_run(tmp/'run')
    demo = make_demo_data(tmp/'demo', 20, 10, size=64, seed=2)
    f8 = sorted((demo/'test'/'ok_front').glob('*.jpeg'))[0]
    a = np.asarray(Image.open(f8).convert('L')).astype(np.uint16) * 257      # the same picture in 16 bits
    Image.fromarray(a).save(tmp/'deep16.png')
    Image.fromarray(np.asarray(Image.open(f8).convert('L'))).save(tmp/'same8.png')
    Image.new('L', (12000, 12000)).save(tmp/'bomb.png', optimize=False)
    return tmp, run, demo

def predict(*args): return run_cli('defect_qc.predict', *args, timeout=300)

def test_16bit_png_is_scaled_not_saturated(env):
    tmp, run, _ = env
    r = predict(run, tmp/'deep16.png', tmp/'same8.png')
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(io.StringIO(r.stdout))
    assert df.error.isna().all()
    assert abs(df.p_defect[0] - df.p_defect[1]) < 0.01, df        # the 16-bit file scores as its 8-bit twin

def test_bomb_is_an_error_row_not_a_crash(env):
    tmp, run, demo = env
    r = predict(run, tmp/'bomb.png', sorted((demo/'test'/'ok_front').glob('*.jpeg'))[0])
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(io.StringIO(r.stdout))
    assert df.label.tolist()[0] == 'error' and 'over the limit' in df.error[0] and df.label[1] in ('ok', 'def')
    assert 'Traceback' not in r.stderr

def test_bomb_in_the_data_is_named_and_skippable(env, tmp_path, cache_dir):
    import shutil
    tmp, _, demo = env
    data = tmp_path/'data'; shutil.copytree(demo, data)
    shutil.copy(tmp/'bomb.png', data/'train'/'ok_front'/'bomb.png')
    r = run_cli('defect_qc.data', data, timeout=300)
    assert r.returncode == 1 and f"ERROR: {data/'train'/'ok_front'/'bomb.png'}: unreadable image (12000x12000 pixels, over the limit" in r.stdout
    assert 'Traceback' not in r.stderr
    common = [f'data.path={data}', 'data.img_size=32', 'num_epochs=1', 'batch_size=8', f'data.cache_dir={tmp_path/"cache"}',
              f'mlflow.tracking_uri=sqlite:///{tmp_path}/mlflow.db', 'mlflow.register_name=null', 'card.plots=false',
              f'hydra.run.dir={tmp_path/"run"}']
    r = run_cli('defect_qc.train', *common, cwd=tmp_path)
    assert r.returncode == 1 and 'bomb.png' in r.stderr.strip().splitlines()[-1] and 'Traceback' not in r.stderr
    r = run_cli('defect_qc.train', *common, 'data.skip_bad_images=true', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'warning: skipping 1 unreadable image(s)' in r.stderr and 'bomb.png' in r.stderr

def test_defects_that_are_all_copies_of_one_photo_are_named(env, tmp_path, cache_dir):
    import shutil
    _, _, demo = env
    data = tmp_path/'data'; shutil.copytree(demo/'train'/'ok_front', data/'train'/'ok_front')
    one = sorted((demo/'train'/'def_front').glob('*.jpeg'))[0]
    (data/'train'/'def_front').mkdir()
    for i in range(5): shutil.copy(one, data/'train'/'def_front'/f'copy_{i}.jpeg')   # five defects, one photo
    r = run_cli('defect_qc.train', f'data.path={data}', 'data.img_size=32', 'num_epochs=1', 'batch_size=4', f'data.cache_dir={cache_dir}',
                f'mlflow.tracking_uri=sqlite:///{tmp_path}/mlflow.db', f'hydra.run.dir={tmp_path/"run"}', cwd=tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1] == (f"error: {data/'train'/'def_front'}: its 5 photos are copies of 1 distinct photo(s), kept together "
                                                 "on one side of the split, so the validation split has no 'def' photo; add distinct photos")
    assert not (tmp_path/'run'/'model.pth').exists() and 'Traceback' not in r.stderr

def test_cache_folder_that_cannot_be_written_costs_a_warning_not_the_run(env, tmp_path):
    tmp, _, demo = env
    (tmp_path/'a_file').write_text('')                      # where the cache folder should be: a file (read-only, a full disk: the same)
    cache = tmp_path/'a_file'/'cache'
    common = ['data.img_size=32', 'num_epochs=1', 'batch_size=8', f'data.cache_dir={cache}',
              f'mlflow.tracking_uri=sqlite:///{tmp_path}/mlflow.db', 'mlflow.register_name=null', 'card.plots=false']
    r = run_cli('defect_qc.train', f'data.path={demo}', *common, f'hydra.run.dir={tmp_path/"run"}', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path/'run'/'model.pth').exists() and 'Traceback' not in r.stderr
    warned = [l for l in r.stderr.splitlines() if 'not written' in l]   # image cache, reference part and data check: one folder, one line
    assert len(warned) == 1 and warned[0].startswith(f'warning: image cache {cache}/'), r.stderr[-2000:]
    r = run_cli('defect_qc.train', *common, f'hydra.run.dir={tmp_path/"run2"}', cwd=tmp_path)   # the demo data has nowhere to go
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1].startswith(f'error: demo data: cannot be made in {cache} (NotADirectoryError'), r.stderr[-2000:]

def test_file_name_not_utf8_is_named_not_a_crash(env, tmp_path):
    import os, shutil
    tmp, run, demo = env
    data = tmp_path/'data'; shutil.copytree(demo, data)
    odd = os.fsencode(data/'train'/'ok_front') + b'/pi\xe8ce.jpeg'      # a Latin-1 name from another system
    try: shutil.copy(next((data/'train'/'ok_front').glob('*.jpeg')), odd)
    except OSError: pytest.skip('this file system refuses names that are not UTF-8')
    shown = f"{data/'train'/'ok_front'}/pi\\xe8ce.jpeg"
    r = predict(run, data/'train'/'ok_front', '--explain', tmp_path/'heat')   # classified; the CSV on stdout names it as \xNN
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    df = pd.read_csv(io.StringIO(r.stdout))
    assert shown in df.path.tolist() and df.error.isna().all()
    heat = df.heatmap[df.path == shown].iloc[0]
    assert heat.endswith('_pi\\xe8ce.png') and Path(heat).is_file(), heat   # its heat map too, under the name the table gives
    r = run_cli('defect_qc.train', f'data.path={data}', 'data.img_size=32', 'num_epochs=1', 'batch_size=8', f'data.cache_dir={tmp_path/"cache"}',
                f'mlflow.tracking_uri=sqlite:///{tmp_path}/mlflow.db', f'hydra.run.dir={tmp_path/"run"}', cwd=tmp_path)
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr[-2000:]   # refused before training, not at its end
    assert r.stderr.strip().splitlines()[-1] == f"error: {shown}: the file name is not valid UTF-8 (another system's encoding?); rename the file"
    assert not (tmp_path/'run'/'model.pth').exists()

# every damage is checked against `load_model` in the models notebook; here each command that loads a run, as the shell sees it
@pytest.mark.parametrize('damage,msg,cmd', [
    (lambda j: '{"arch": "cnn", "n_in"', 'model.json: not valid JSON', 'predict'),
    (lambda j: json.dumps({k: v for k, v in j.items() if k != 'arch'}), 'model.json: incomplete, missing arch', 'export'),
    (lambda j: json.dumps({**j, 'format_version': 99}), 'model.json: model format 99 needs a newer defect_qc', 'evaluate'),
    (lambda j: json.dumps({**j, 'arch_kwargs': {**j['arch_kwargs'], 'widths': [8, 16, 32, 64]}}), 'model.pth: does not fit', 'predict')])
def test_damaged_model_files_get_one_line(env, tmp_path, damage, msg, cmd):
    import shutil
    tmp, run, demo = env
    bad = Path(shutil.copytree(run, tmp_path/'run'))
    (bad/'model.json').write_text(damage(json.loads((run/'model.json').read_text())))
    args = {'predict': (bad, sorted((demo/'test'/'ok_front').glob('*.jpeg'))[0]), 'export': (bad,), 'evaluate': (bad, demo)}[cmd]
    r = run_cli(f'defect_qc.{cmd}', *args, timeout=300)
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and msg in last, last
    assert (run/'model.json').is_file()   # nothing earlier was touched

def test_links_and_loops_classify_each_file_once(env, tmp_path):
    "A folder that links back to itself, a second link to an image and a broken link: each image gets one row."
    import shutil
    tmp, run, demo = env
    d = Path(shutil.copytree(demo/'test', tmp_path/'imgs'))
    n = len(list(d.rglob('*.jpeg')))
    (d/'ok_front'/'loop').symlink_to(d); (d/'twin.jpeg').symlink_to(next(d.rglob('*.jpeg')))
    (d/'gone.jpeg').symlink_to(tmp_path/'no-such.jpeg')
    for inp in (d, f'{d}/**/*.jpeg'):
        r = predict(run, inp)
        assert r.returncode == 0, r.stderr
        df = pd.read_csv(io.StringIO(r.stdout))
        assert len(df) == n and df.error.isna().all(), (inp, len(df), n)
        assert f"warning: {d/'gone.jpeg'}: broken symbolic link (skipped)" in r.stderr
        assert 'reach a file already listed through a symbolic link' in r.stderr and 'Traceback' not in r.stderr

def test_data_check_reports_links_and_unusable_modes(env, tmp_path):
    import shutil
    tmp, _, demo = env
    data = Path(shutil.copytree(demo, tmp_path/'data'))
    ok = data/'train'/'ok_front'
    (ok/'gone.jpeg').symlink_to(tmp_path/'no-such.jpeg'); (ok/'self.jpeg').symlink_to('self.jpeg')
    Image.open(next(ok.glob('*.jpeg'))).convert('RGBA').save(ok/'alpha.png')
    Image.open(next(ok.glob('*.jpeg'))).convert('CMYK').save(ok/'print.jpeg')
    r = run_cli('defect_qc.data', data, '--json', tmp_path/'rep.json', timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr     # warnings, no error: the images can still be used
    for f in ('gone.jpeg', 'self.jpeg'): assert f"WARNING: {ok/f}: broken symbolic link" in r.stdout, r.stdout
    assert f"WARNING: {ok/'alpha.png'}: 1 image(s) in mode RGBA: the alpha channel (transparency) is ignored" in r.stdout
    assert f"WARNING: {ok/'print.jpeg'}: 1 image(s) in mode CMYK" in r.stdout
    rep = json.loads((tmp_path/'rep.json').read_text())
    assert rep['modes']['RGBA'] == 1 and rep['modes']['CMYK'] == 1

def crop_run(run, demo, dest):
    "A copy of `run` with the canonical crop (the part finder) on, its reference from the demo's good photos."
    import shutil
    from defect_qc.images import reference_profile
    crop = Path(shutil.copytree(run, dest))
    meta = json.loads((crop/'model.json').read_text())
    meta['prep'] = dict(reference=reference_profile(sorted((demo/'train'/'ok_front').glob('*.jpeg')), meta['img_size']), mask_radius=0.5)
    (crop/'model.json').write_text(json.dumps(meta))
    return crop

def test_wide_image_is_one_error_row_naming_its_aspect_ratio(env, tmp_path):
    "A 10000x50 PNG (0.5 MB) beside a good photo: refused before decoding, with and without the canonical crop; the photo is scored."
    import shutil
    tmp, run, demo = env
    d = tmp_path/'imgs'; d.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 10000), dtype=np.uint8)).save(d/'wide.png')
    good = sorted((demo/'test'/'ok_front').glob('*.jpeg'))[0]; shutil.copy(good, d/good.name)
    for r_dir in (run, crop_run(run, demo, tmp_path/'crop_run')):
        r = predict(r_dir, d)
        assert r.returncode == 0, r.stderr
        df = pd.read_csv(io.StringIO(r.stdout)).set_index('path')
        assert len(df) == 2, df
        wide = df.loc[str(d/'wide.png')]
        assert wide.label == 'error' and wide.error == f"{d/'wide.png'}: unreadable image (aspect ratio 200:1 is beyond the 4:1 limit)", wide
        assert df.loc[str(d/good.name)].label in ('ok', 'def') and 'Traceback' not in r.stderr

def damaged_copies(photos, dest, n, seed=0):
    "`n` damaged copies of JPEG `photos` in `dest`: bytes flipped, cut out, inserted, or the file cut short, 1 to 6 times each (seeded)."
    import random
    rng = random.Random(seed); dest.mkdir()
    for i in range(n):
        b = bytearray(rng.choice(photos).read_bytes())
        for _ in range(rng.randint(1, 6)):
            if len(b) < 8: break
            j, op = rng.randrange(2, len(b)), rng.randrange(4)
            if op == 0: b[j] = rng.randrange(256)
            elif op == 1: del b[j:j + rng.randint(1, 64)]
            elif op == 2: b[j:j] = rng.randbytes(rng.randint(1, 16))
            else: del b[j:]
        (dest/f'{i:03d}.jpeg').write_bytes(b)
    return sorted(dest.iterdir())

def test_damaged_jpegs_get_a_row_each_never_a_crash(env, tmp_path):
    "300 damaged JPEGs (decoded by simplejpeg or Pillow, in forked processes): each file one row, a score or a one-line error naming it."
    tmp, run, demo = env
    files = damaged_copies(sorted(demo.rglob('*.jpeg')), tmp_path/'damaged', 300)
    for r_dir in (run, crop_run(run, demo, tmp_path/'crop_run')):   # without and with the part finder
        r = predict(r_dir, tmp_path/'damaged')
        assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr[-2000:]
        df = pd.read_csv(io.StringIO(r.stdout))
        assert sorted(df.path) == sorted(map(str, files)), df   # every file, once
        bad = df.label == 'error'
        assert 30 < bad.sum() < 270, df.label.value_counts()   # the damage leaves some readable, some not
        assert df.label[~bad].isin(['ok', 'def']).all() and df.p_defect[~bad].between(0, 1).all()
        assert all(e.startswith(f"{p}: ") and '\n' not in e for p, e in zip(df.path[bad], df.error[bad])), df.error[bad]
