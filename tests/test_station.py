"""The inspection station as a user runs it (`python -m defect_qc.station RUN --watch INCOMING/`), in its own process:
new photos are recorded and sorted; after a `kill -9` mid-stream and a restart every photo has exactly one row; the
review page answered in headless Chromium (keyboard and click) takes the photos out of the queue and stores the answers."""
import base64, json, os, shutil, signal, sqlite3, subprocess, sys, time
from pathlib import Path

import pytest
from conftest import ARTIFACTS, CHROMIUM, CHROMIUM_MISSING, chromium, free_port, load_page, stop, wait_http
from defect_qc.fixtures import make_tiny_run
from defect_qc.synth import make_demo_data

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "A tiny trained run and 40 demo photos (seconds)."
    d = tmp_path_factory.mktemp('station')
    run = make_tiny_run(d/'run', img_size=48, steps=10)
    demo = make_demo_data(d/'demo', n_train=4, n_test=40, size=96, seed=3)
    return run, sorted((demo/'test').rglob('*.jpeg'))

def start_station(run, watch, db, *args, log):
    "The station as a user starts it, in its own process group; output to `log`."
    env = {**os.environ}; env.pop('IN_TEST', None)
    cmd = [sys.executable, '-m', 'defect_qc.station', str(run), '--watch', str(watch), '--db', str(db), '--workers', '2',
           '--settle', '0.3', *map(str, args)]
    return subprocess.Popen(cmd, stdout=open(log, 'a'), stderr=subprocess.STDOUT, start_new_session=True, env=env)

def rows(db, cols='path, sha256, decision, error, answer, answered_by'):
    "The photos table (empty before the station created it)."
    if not Path(db).exists(): return []
    con = sqlite3.connect(db, timeout=30)
    try: return con.execute(f'SELECT {cols} FROM photos ORDER BY id').fetchall()
    except sqlite3.OperationalError: return []
    finally: con.close()

def wait_until(cond, proc, log, what, timeout=180):
    "Poll `cond()` until true; fail with the station's log if it exits or `timeout` passes (a guard, not a timing check)."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond(): return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the station exited ({proc.returncode}) waiting for {what}:\n{Path(log).read_text()[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"no {what} after {timeout} s:\n{Path(log).read_text()[-3000:]}")

def test_new_photos_are_recorded_and_sorted(tiny, tmp_path):
    "Photos written while it runs (and one before) get a row each and move to their decision's folder; a broken one is an error row."
    run, photos = tiny
    inc, out, db, log = tmp_path/'in', tmp_path/'sorted', tmp_path/'st.db', tmp_path/'station.log'
    inc.mkdir(); shutil.copy(photos[0], inc/'before.jpeg')
    p = start_station(run, inc, db, '--port', '0', '--sort', out, log=log)
    try:
        wait_until(lambda: 'station: watching' in log.read_text(), p, log, 'start')
        for f in photos[1:5]: shutil.copy(f, inc/f.name)
        (inc/'broken.jpeg').write_bytes(b'not a jpeg at all')
        wait_until(lambda: len(rows(db)) >= 6, p, log, '6 rows')
    finally: rc = stop(p)
    r = rows(db)
    assert rc == 0 and 'station: stopped (6 new photo(s) recorded)' in log.read_text(), log.read_text()[-2000:]
    assert sorted(Path(x[0]).name for x in r) == sorted(['before.jpeg', 'broken.jpeg', *[f.name for f in photos[1:5]]])
    bad = [x for x in r if x[0].endswith('broken.jpeg')][0]
    assert bad[2] == 'review' and 'broken.jpeg' in bad[3]
    assert not list(inc.glob('*.jpeg'))                                    # all moved out
    moved = sorted(f.name for f in out.rglob('*.jpeg'))
    assert moved == sorted(Path(x[0]).name for x in r)
    for path, _, decision, *_ in r: assert (out/decision/Path(path).name).is_file()

def test_kill_9_and_restart_exactly_once(tiny, tmp_path):
    "kill -9 mid-stream, photos keep arriving while it is down, a restart: every photo has exactly one row."
    run, photos = tiny
    inc, db, log = tmp_path/'in', tmp_path/'st.db', tmp_path/'station.log'
    inc.mkdir()
    files = [inc/f"{i:03d}_{f.name}" for i, f in enumerate(photos)]
    p = start_station(run, inc, db, '--port', '0', log=log)
    try:
        wait_until(lambda: 'station: watching' in log.read_text(), p, log, 'start')
        for f, src in zip(files[:15], photos): shutil.copy(src, f); time.sleep(0.02)
        wait_until(lambda: len(rows(db)) >= 5, p, log, '5 rows')
        os.killpg(p.pid, signal.SIGKILL); p.wait()                           # mid-stream: some written, some not
        n_before = len(rows(db))
        for f, src in zip(files[15:30], photos[15:30]): shutil.copy(src, f)   # arrive while it is down
        p = start_station(run, inc, db, '--port', '0', log=log)
        wait_until(lambda: log.read_text().count('station: watching') == 2, p, log, 'restart')
        for f, src in zip(files[30:], photos[30:]): shutil.copy(src, f)
        wait_until(lambda: len(rows(db)) >= len(files), p, log, f'{len(files)} rows')
        time.sleep(1.5)                                                        # a duplicate would show up now
    finally: stop(p)
    paths = [x[0] for x in rows(db)]
    assert 0 < n_before < len(files)
    assert sorted(paths) == sorted(map(str, files)), "lost or doubled photos"
    assert len(paths) == len(set(paths))

def _screenshot(cdp, name):
    "Save what the browser shows into tests/artifacts/."
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS/name).write_bytes(base64.b64decode(cdp.send('Page.captureScreenshot', format='png')['data']))

def _review_run(run, dest):
    "A copy of `run` whose review band holds every photo (so the queue fills)."
    shutil.copytree(run, dest)
    meta = json.loads((dest/'model.json').read_text()); meta['band'] = {'t_accept': 0.0, 't_reject': 1.01}
    (dest/'model.json').write_text(json.dumps(meta)); (dest/'model_card.md').write_text('# Model card: tiny test run\n')
    return dest

@pytest.mark.skipif(CHROMIUM is None, reason=CHROMIUM_MISSING)
def test_review_page_in_headless_chromium(tiny, tmp_path):
    "Load the queue, answer the top photo with the g key and the next by clicking Defective: both leave the queue, answers stored with the name."
    run, photos = tiny
    run = _review_run(run, tmp_path/'run')
    inc, db, log, port = tmp_path/'in', tmp_path/'st.db', tmp_path/'station.log', free_port()
    inc.mkdir()
    for f in photos[:3]: shutil.copy(f, inc/f.name)
    p = start_station(run, inc, db, '--port', port, log=log)
    base = f'http://127.0.0.1:{port}/'
    try:
        wait_until(lambda: len(rows(db)) >= 3, p, log, '3 rows')
        wait_http(base + 'status', p, timeout=120)
        with chromium() as cdp:
            assert not load_page(cdp, base)
            ids = lambda: cdp.eval("[...document.querySelectorAll('#queue .item')].map(e => +e.dataset.id)")
            assert ids() == [3, 2, 1]                                         # newest first
            assert cdp.eval("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            _screenshot(cdp, 'station_queue.png')
            cdp.eval("document.getElementById('who').value = 'Ana'; document.activeElement.blur(); true")
            cdp.events.clear()
            for t in ('keyDown', 'keyUp'):
                cdp.send('Input.dispatchKeyEvent', type=t, key='g', code='KeyG', text='g' if t == 'keyDown' else '', windowsVirtualKeyCode=71)
            cdp.wait_for('Page.loadEventFired'); cdp.drain()
            assert ids() == [2, 1]
            cdp.events.clear()
            cdp.eval("document.querySelector('#photo-2 button.def').click(); true")
            cdp.wait_for('Page.loadEventFired'); cdp.drain()
            assert ids() == [1] and cdp.eval("document.getElementById('who').value") == 'Ana'   # the name is kept
            assert not load_page(cdp, base + 'photos/1')                     # the photo and its Grad-CAM heat map
            assert cdp.eval("[...document.images].filter(i => i.complete && i.naturalWidth > 0).length") == 2
            assert not load_page(cdp, base + 'summary')
            assert cdp.eval("document.getElementById('queue-length').textContent") == '1'
            _screenshot(cdp, 'station_summary.png')
    finally: rc = stop(p)
    assert rc == 0 and 'station: stopped' in log.read_text(), log.read_text()[-2000:]   # SIGTERM with the page on: a clean stop too
    answers = {Path(r[0]).name: (r[4], r[5]) for r in rows(db)}
    assert answers == {photos[2].name: ('ok', 'Ana'), photos[1].name: ('def', 'Ana'), photos[0].name: (None, None)}, answers
