"""The walkthrough as users run it: `nbs/tutorial.ipynb` executed top to bottom in a real Jupyter kernel (nbclient, the
executor JupyterLab's "Run All" and `jupyter nbconvert --execute` use), from `nbs/` as JupyterLab would; no cell may fail."""
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parents[1]

def test_tutorial_runs_in_a_jupyter_kernel():
    nb = nbformat.read(REPO/'nbs'/'tutorial.ipynb', as_version=4)
    n_code = sum(c.cell_type == 'code' for c in nb.cells)
    env = {k: v for k, v in os.environ.items() if k != 'IN_TEST'}   # a user's kernel, not nbdev's test runner
    client = NotebookClient(nb, timeout=900, kernel_name='python3', resources={'metadata': {'path': str(REPO/'nbs')}})
    try: client.execute(env=env)
    except CellExecutionError as e: raise AssertionError(f"a tutorial cell failed in the Jupyter kernel:\n{str(e)[-3000:]}") from None
    ran = [c for c in nb.cells if c.cell_type == 'code' and c.get('execution_count')]
    assert len(ran) == n_code, f"{n_code - len(ran)} code cells did not run"
    errors = [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs if o.output_type == 'error']
    assert not errors, errors[0]
    assert any(o.get('data', {}).get('image/jpeg') or o.get('data', {}).get('image/png')
               for c in nb.cells if c.cell_type == 'code' for o in c.outputs), "no figure was displayed"
