"""The inspection station under a stream of photos: sustained photos/s, latency from file closed to row written, exactly once.

usage: python benchmarks/station.py [RUN_DIR] [--photos DIR] [--n 1327] [--rate 200] [--kill] [--sort] [--workers N]

Starts `python -m defect_qc.station RUN_DIR --watch INCOMING/ --port 0` as a user would, then writes the photos into
INCOMING/ one by one at `--rate` photos/s (each written and closed, as a camera does) and waits for every row.
Latency is the row's time minus the moment the writer closed the file. `--kill` kill -9s the station halfway through
the stream and restarts it at once (photos go on arriving meanwhile): the figures then include the restart, and the
check is that nothing is lost or doubled. `--sort` sorts the photos into a folder beside INCOMING/ (outside it, as on a
line), and checks that each row's sorted file holds the bytes written and nothing is left in INCOMING/. Photos: `--photos DIR` (e.g. a run's validation photos, searched
recursively), else the real train split when ../shared/data/casting_data is there, else synthetic 300x300 demo JPEGs.
Without RUN_DIR a tiny DefectCNN run is made (weights don't matter for speed). Prints numbers only; exit 1 when a
photo is lost or recorded twice. Measure on an idle machine: other processes on the cores change every figure.
"""
import argparse, os, signal, sqlite3, subprocess, sys, tempfile, time
from datetime import datetime
from pathlib import Path

import warnings
import numpy as np
warnings.filterwarnings("ignore", category=FutureWarning)

from defect_qc.images import is_image_file
from defect_qc.fixtures import make_tiny_run, real_data_root

def photo_files(tmp, src, n):
    "n photo files: from `src`, the real train split, or synthetic demo JPEGs; and where they come from."
    if src: return sorted(p for p in Path(src).rglob('*') if is_image_file(p))[:n], str(src)
    if (real := real_data_root()):
        fs = sorted((real/'train').rglob('*.jpeg'))
        return [fs[i] for i in np.linspace(0, len(fs) - 1, min(n, len(fs))).astype(int)], f'real casting photos ({real})'
    from defect_qc.synth import make_demo_data
    d = make_demo_data(tmp/'demo', 0, n, size=300)
    return sorted(d.rglob('*.jpeg'))[:n], 'synthetic 300x300 demo JPEGs'

def start(run, inc, db, log, workers, backend, sort=None):
    "The station in its own process group."
    env = {**os.environ}; env.pop('IN_TEST', None)
    cmd = [sys.executable, '-m', 'defect_qc.station', str(run), '--watch', str(inc), '--db', str(db), '--port', '0',
           '--backend', backend, *(['--workers', str(workers)] if workers else []), *(['--sort', str(sort)] if sort else [])]
    return subprocess.Popen(cmd, stdout=open(log, 'a'), stderr=subprocess.STDOUT, start_new_session=True, env=env)

def wait_for(cond, proc, log, what, timeout):
    t0 = time.monotonic()
    while not cond():
        if proc.poll() is not None: sys.exit(f"error: the station exited ({proc.returncode}) waiting for {what}:\n{Path(log).read_text()[-2000:]}")
        if time.monotonic() - t0 > timeout: sys.exit(f"error: no {what} after {timeout} s:\n{Path(log).read_text()[-2000:]}")
        time.sleep(0.05)

def n_rows(db):
    try:
        with sqlite3.connect(db, timeout=30) as con: return con.execute('SELECT COUNT(*) FROM photos').fetchone()[0]
    except sqlite3.OperationalError: return 0

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('run_dir', nargs='?'); ap.add_argument('--photos'); ap.add_argument('--n', type=int, default=1327)
    ap.add_argument('--rate', type=float, default=200.0); ap.add_argument('--kill', action='store_true')
    ap.add_argument('--workers', type=int); ap.add_argument('--backend', default='torch')
    ap.add_argument('--timeout', type=float, default=600); ap.add_argument('--sort', action='store_true')
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        run = Path(a.run_dir) if a.run_dir else make_tiny_run(tmp/'run', img_size=128, steps=2)
        files, origin = photo_files(tmp, a.photos, a.n)
        blobs = [(f"{i:05d}_{f.name}", f.read_bytes()) for i, f in enumerate(files)]
        inc, db, log = tmp/'incoming', tmp/'station.db', tmp/'station.log'; inc.mkdir()
        srt = tmp/'sorted' if a.sort else None
        p = start(run, inc, db, log, a.workers, a.backend, srt)
        wait_for(lambda: 'station: watching' in log.read_text(), p, log, 'start', 300)
        closed, kill_at, t0 = {}, (len(blobs)//2 if a.kill else -1), time.time()
        for i, (name, data) in enumerate(blobs):
            if i == kill_at: os.killpg(p.pid, signal.SIGKILL); p.wait(); t_kill = time.time(); p = start(run, inc, db, log, a.workers, a.backend, srt)
            time.sleep(max(0.0, t0 + i/a.rate - time.time()))
            with open(inc/name, 'wb') as f: f.write(data)
            closed[str(inc/name)] = time.time()
        t_written = time.time()
        wait_for(lambda: n_rows(db) >= len(blobs), p, log, f'{len(blobs)} rows', a.timeout)
        time.sleep(2)                                         # a duplicate would show up now
        os.killpg(p.pid, signal.SIGTERM); p.wait(60)
        with sqlite3.connect(db) as con: rows = con.execute('SELECT path, time, latency_ms FROM photos').fetchall()
        if srt:
            data = {str(inc/n): d for n, d in blobs}
            with sqlite3.connect(db) as con: stored = con.execute('SELECT path, stored FROM photos').fetchall()
            wrong = sum(not Path(s).is_file() or Path(s).read_bytes() != data.get(p) for p, s in stored)
            left = sorted(f.name for f in inc.rglob('*') if f.is_file() and f.name != '.defect_qc_station.lock')   # (the station's own lock)
            sort_line = f"sorted: {len(stored) - wrong} of {len(stored)} rows' files hold the photo written, {len(left)} left in INCOMING/" + (f" ({left[:3]})" if left else "")
    t_row, own = {}, {}
    dup = 0
    for path, t, ms in rows:
        dup += path in t_row; t_row[path] = datetime.fromisoformat(t).timestamp(); own[path] = ms
    lost = [p for p in closed if p not in t_row]
    lat = np.array([t_row[p] - closed[p] for p in closed if p in t_row])*1000
    span = max(t_row.values()) - t0
    print(f"photos: {len(blobs)} ({origin}); offered rate {a.rate:g}/s (written in {t_written - t0:.1f} s); "
          f"model {run}; backend {a.backend}; cores {os.cpu_count()}{'; kill -9 at photo ' + str(kill_at) if a.kill else ''}{'; --sort outside the folder' if a.sort else ''}")
    print(f"sustained: {len(t_row)/span:.1f} photos/s (first write to last row, {span:.1f} s)")
    print(f"latency file closed -> row written: p50 {np.percentile(lat, 50):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms, max {lat.max():.1f} ms")
    seen = np.array([own[p] for p in closed if p in own and own[p] is not None])   # the station's own: noticed complete -> row
    if len(seen): print(f"  of which in the station (noticed complete -> row written): p50 {np.percentile(seen, 50):.1f} ms, p95 {np.percentile(seen, 95):.1f} ms; "
                        f"the rest is the file event's way to the station")
    if a.kill:
        after = np.array([t_row[p] - closed[p] for p in closed if p in t_row and closed[p] > t_kill + 30])*1000
        print(f"restart: rows resumed; latency of photos written 30 s after the kill: "
              + (f"p50 {np.percentile(after, 50):.1f} ms, p95 {np.percentile(after, 95):.1f} ms ({len(after)} photos)" if len(after) else "n/a (stream too short)"))
    print(f"exactly once: {len(blobs)} written, {len(t_row)} recorded, {len(lost)} lost, {dup} duplicated")
    if a.sort: print(sort_line)
    return 1 if lost or dup or (a.sort and (wrong or left)) else 0

if __name__ == '__main__': sys.exit(main())
