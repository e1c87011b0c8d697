"`python -m defect_qc.data` as a user calls it: the shortcut audit on a biased set and on the real train split."
import json
import numpy as np
from PIL import Image
from conftest import run_cli

def biased_set(root, n=12):
    "Defective parts on a dark background, good ones on a bright one: a shortcut a CNN would learn."
    from defect_qc.synth import synth_casting
    for cls, folder, bg in (('ok', 'ok_front', 200), ('def', 'def_front', 40)):
        d = root/'train'/folder; d.mkdir(parents=True)
        for i in range(n):
            a = np.full((120, 120), bg, np.uint8); a[10:110, 10:110] = np.asarray(synth_casting(100, seed=i + 100*(cls == 'def')))
            Image.fromarray(a).convert('RGB').save(d/f'{cls}_{i}.jpeg', quality=90)
    return root

def test_shortcut_warning_names_the_statistic(tmp_path):
    root = biased_set(tmp_path/'biased')
    r = run_cli('defect_qc.data', root, '--json', tmp_path/'rep.json', timeout=300)
    assert r.returncode == 0, r.stderr            # a warning, not an error
    assert "shortcut audit (ROC-AUC of each statistic alone" in r.stdout
    assert "WARNING: " in r.stdout and "'border brightness' alone separates def from ok" in r.stdout
    rep = json.loads((tmp_path/'rep.json').read_text())
    assert rep['shortcuts']['border brightness'] > 0.95 and 0.5 <= rep['shortcuts']['image size'] <= 0.51

def test_real_train_split_has_the_background_shortcut(real_data, tmp_path):
    r = run_cli('defect_qc.data', real_data, '--json', tmp_path/'rep.json', timeout=600)
    assert r.returncode == 0, r.stderr
    sc = json.loads((tmp_path/'rep.json').read_text())['shortcuts']
    assert sc['border brightness'] > 0.75, sc      # darker backgrounds for the defective parts (we measured 0.82-0.83)
    assert "'border brightness' alone separates def from ok" in r.stdout
