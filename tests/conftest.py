"Shared fixtures: where the real data lives, and how to run the CLIs as a user does."
import os, shutil, subprocess, sys
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent/'shared'/'data'/'casting_data'
ARTIFACTS = REPO/'tests'/'artifacts'

def run_cli(*args, cwd=None, env=None, timeout=900):
    "Run `python -m ...` as a user would; returns the CompletedProcess (text output)."
    e = {**os.environ, **(env or {})}
    e.pop('IN_TEST', None)
    return subprocess.run([sys.executable, '-m', *map(str, args)], cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)

@pytest.fixture
def real_data():
    "The real casting train split, or skip with the reason."
    if not (REAL_DATA/'train').is_dir(): pytest.skip(f"real data not found at {REAL_DATA} (see README: get it from Kaggle)")
    return REAL_DATA

@pytest.fixture(scope='session')
def cache_dir(tmp_path_factory):
    "One image cache for the whole test session."
    return tmp_path_factory.mktemp('cache')

def real_subset(dest, n_per_class, seed=0):
    "Symlink a random subset of the real train split (n per class) into `dest/train/`."
    import random
    rng = random.Random(seed)
    for d in ('ok_front', 'def_front'):
        files = sorted((REAL_DATA/'train'/d).glob('*.jpeg'))
        (dest/'train'/d).mkdir(parents=True, exist_ok=True)
        for f in rng.sample(files, n_per_class): (dest/'train'/d/f.name).symlink_to(f)
    return dest
