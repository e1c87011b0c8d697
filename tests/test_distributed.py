"Data-parallel training under `accelerate launch` with 2 CPU processes (gloo): one run folder, one MLflow run, full-set evaluation."
import json, os, socket, subprocess, sys
from pathlib import Path
import pytest
from mlflow.tracking import MlflowClient

def _free_port():
    "A free loopback port for the process group (a fixed one clashes with any other launch on the machine)."
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _launch(tmp_path, *overrides, n=2):
    "accelerate launch, 2 CPU processes: torchrun-style launcher (`--multi_gpu`); on a CPU-only box the processes use gloo."
    env = {**os.environ, 'ACCELERATE_USE_CPU': '1', 'OMP_NUM_THREADS': '1'}; env.pop('IN_TEST', None)
    acc = Path(sys.executable).parent/'accelerate'
    cmd = [str(acc), 'launch', '--multi_gpu', '--num_processes', str(n), '--num_machines', '1', '--mixed_precision', 'no',
           '--dynamo_backend', 'no', '--main_process_port', str(_free_port()), '-m', 'defect_qc.train', *overrides]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    from defect_qc.synth import make_demo_data
    d = tmp_path_factory.mktemp('ddp')/'data'
    make_demo_data(d, n_train=80, n_test=20, size=64, seed=1)
    return d

def _base(tiny, tmp_path):
    return [f'data.path={tiny}', 'data.img_size=48', 'num_epochs=2', 'batch_size=16', f'data.cache_dir={tmp_path/"cache"}',
            'mlflow.log_model=false', 'mlflow.register_name=null']

def test_two_cpu_processes_one_run(tiny, tmp_path):
    r = _launch(tmp_path, *_base(tiny, tmp_path))
    assert r.returncode == 0, r.stderr[-4000:]
    runs = sorted(p for p in (tmp_path/'outputs').glob('*/*') if p.is_dir())
    assert len(runs) == 1, runs                       # rank 1 made no folder of its own
    run = runs[0]
    m = json.loads((run/'metrics.json').read_text())
    assert m['world_size'] == 2 and m['epochs_run'] == 2
    # rank 0 scored the FULL validation and test sets (16 and 20 images), not its shard
    assert sum(m['val']['confusion'].values()) == 16 and sum(m['test']['confusion'].values()) == 20
    for f in ('model.pth', 'model.json', 'confusion_matrix_val.png', '.hydra/config.yaml'): assert (run/f).exists(), f
    assert not (run/'best.pth').exists()
    # one MLflow run, per-epoch curves logged once (by rank 0 only)
    c = MlflowClient(f"sqlite:///{tmp_path/'mlflow.db'}")
    (mr,) = c.search_runs([c.get_experiment_by_name('defect_qc').experiment_id])
    assert mr.info.status == 'FINISHED' and mr.data.tags['world_size'] == '2'
    assert [h.step for h in c.get_metric_history(mr.info.run_id, 'valid_loss')] == [1]      # 2 epochs: the second validated
    assert [h.step for h in c.get_metric_history(mr.info.run_id, 'train_loss')] == [0, 1]
    # the saved model loads in a single process, plain BatchNorm, with the tuned threshold
    from defect_qc.models import load_model
    model, meta = load_model(run)
    assert meta['threshold'] == m['threshold'] and meta['mlflow_run_id'] == mr.info.run_id
    # each rank ran its share of each epoch: 2 train batches of 16 per rank (64 images / 2 processes), not all 4
    assert '2 epochs x 2 training batches' in r.stdout and 'x 4 training batches' not in r.stdout, r.stdout[-2000:]

def test_bf16_on_cpu_trains(tiny, tmp_path):
    "precision=bf16 under 2 processes: autocast really in bfloat16 on CPU (see defect_qc.callbacks.CPUAutocast), and it learns."
    r = _launch(tmp_path, *_base(tiny, tmp_path), 'precision=bf16', 'num_epochs=3')
    assert r.returncode == 0, r.stderr[-4000:]
    (run,) = [p for p in (tmp_path/'outputs').glob('*/*') if p.is_dir()]
    m = json.loads((run/'metrics.json').read_text())
    assert m['world_size'] == 2 and m['epochs_run'] == 3
    c = MlflowClient(f"sqlite:///{tmp_path/'mlflow.db'}")
    (mr,) = c.search_runs([c.get_experiment_by_name('defect_qc').experiment_id])
    tl = [h.value for h in c.get_metric_history(mr.info.run_id, 'train_loss')]
    print('bf16 train loss per epoch:', tl, 'val', {k: m['val'][k] for k in ('accuracy', 'roc_auc')})
    assert tl[-1] < tl[0]
