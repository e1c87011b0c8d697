"`python -m defect_qc.review` as a user calls it: the queue finds flipped labels; bad input is one line and a non-zero exit."
import shutil
import pandas as pd
import pytest
from PIL import Image
from conftest import run_cli
from defect_qc.review import spot_data

def review(*args, cwd=None): return run_cli('defect_qc.review', *args, cwd=cwd, timeout=600)

@pytest.fixture(scope='module')
def flipped_data(tmp_path_factory):
    "80 + 80 spot images, three labels flipped."
    root = spot_data(tmp_path_factory.mktemp('review')/'data', 80, seed=5)
    flipped = []
    for src, dst, i in (('ok_front', 'def_front', 3), ('ok_front', 'def_front', 30), ('def_front', 'ok_front', 50)):
        f = sorted((root/'train'/src).glob('*.png'))[i]; shutil.move(f, root/'train'/dst/f.name); flipped.append(str(root/'train'/dst/f.name))
    return root, flipped

def test_flipped_labels_come_first(flipped_data, tmp_path):
    root, flipped = flipped_data
    r = review(root, '--folds', '3', '--epochs', '8', '--img-size', '48', '--no-crop', '--top', '6', '--out', tmp_path/'out',
               '--tracking-uri', f'sqlite:///{tmp_path}/mlflow.db', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    q = pd.read_csv(tmp_path/'out'/'label_issues.csv')
    assert set(flipped) <= set(q.path[:6]), q.head(8)
    assert list(q.columns) == ['rank', 'path', 'given', 'suggested', 'p_defect', 'self_confidence', 'why']
    with Image.open(tmp_path/'out'/'review_gallery.png') as im: assert im.format == 'PNG'
    assert 'image(s) to review' in r.stdout and 'Traceback' not in r.stderr
    assert not (tmp_path/'mlruns').exists()

def test_bad_input_is_one_line(flipped_data, tmp_path):
    "As the shell sees it (the review notebook checks each refused input in-process): one line, exit 1, earlier work kept."
    root, _ = flipped_data
    (tmp_path/'busy').mkdir(); (tmp_path/'busy'/'keep.txt').write_text('earlier work')
    r = review(root, '--out', tmp_path/'busy', '--tracking-uri', '', cwd=tmp_path)
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [f"error: --out {tmp_path/'busy'}: already exists and is not empty"], r.stderr
    assert (tmp_path/'busy'/'keep.txt').read_text() == 'earlier work'
