"Hydra multirun: a run folder and an MLflow child run per job under one parent run, and a sorted summary table."
import csv, json
from mlflow.tracking import MlflowClient
from conftest import run_cli

def test_tiny_sweep(tmp_path, cache_dir):
    from defect_qc.synth import make_demo_data
    data = make_demo_data(tmp_path/'data', n_train=80, n_test=20, size=64, seed=1)
    r = run_cli('defect_qc.train', '-m', 'lr=1e-3,3e-3', f'data.path={data}', 'data.img_size=48', 'num_epochs=1', 'batch_size=16',
                'mlflow.log_model=false', 'mlflow.register_name=null', 'mlflow.experiment_name=sweep', 'card.plots=false', cwd=tmp_path,
                env={'DEFECT_QC_CACHE': str(cache_dir)})
    assert r.returncode == 0, r.stderr[-4000:]
    (sweep,) = [p for p in (tmp_path/'multirun').glob('*/*') if p.is_dir()]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ['0', '1']
    for j in jobs: assert (j/'metrics.json').is_file() and (j/'model.pth').is_file(), j
    # MLflow: one parent (FINISHED, summary attached), two children pointing at it
    c = MlflowClient(f"sqlite:///{tmp_path/'mlflow.db'}")
    pid = json.loads((sweep/'mlflow_parent.json').read_text())['run_id']
    exp = c.get_experiment_by_name('sweep').experiment_id
    kids = c.search_runs([exp], f"tags.mlflow.parentRunId = '{pid}'")
    assert len(kids) == 2 and all(k.info.status == 'FINISHED' for k in kids)
    assert sorted(k.data.params['lr'] for k in kids) == ['0.001', '0.003']
    assert sorted(k.data.tags['run_dir'] for k in kids) == sorted(str(j.resolve()) for j in jobs)
    p = c.get_run(pid)
    assert p.info.status == 'FINISHED'
    assert sorted(a.path for a in c.list_artifacts(pid)) == ['sweep_summary.csv', 'sweep_summary.md']
    # the summary: both jobs, best first, run ids matching the children
    rows = list(csv.DictReader(open(sweep/'sweep_summary.csv')))
    assert sorted(r['overrides'].split()[0] for r in rows) == ['lr=0.001', 'lr=0.003']   # as Hydra writes them
    assert {r['mlflow_run_id'] for r in rows} == {k.info.run_id for k in kids}
    acc = [float(r['val_accuracy']) for r in rows]
    hit = [float(r['val_recall']) >= 0.995 for r in rows]
    assert [(not h, -a) for h, a in zip(hit, acc)] == sorted((not h, -a) for h, a in zip(hit, acc))
    assert p.data.tags['best_overrides'] == rows[0]['overrides']
    assert 'Sweep summary (best first)' in r.stdout and '| rank | overrides |' in r.stdout
