"""The docs, rendered by pandoc (tools/docs.py): README.md is generated from nbs/index.ipynb and current; the offline
site (`python tools/docs.py site`) has a page per notebook with nbdev's navigation, show_doc API reference and embedded
plots, and loads in headless Chromium with no console errors (screenshots go to tests/artifacts/)."""
import base64, contextlib, functools, json, os, re, subprocess, sys, threading
from http.server import ThreadingHTTPServer, SimpleHTTPRequestHandler
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO/'tests'/'artifacts'
DOCS = [sys.executable, str(REPO/'tools'/'docs.py')]

sys.path.insert(0, str(REPO/'tools'))
import docs  # noqa: E402
from conftest import CHROMIUM, chromium, load_page as _load  # noqa: E402  (the DevTools client, shared with test_station)

def _run(*args, timeout=600):
    env = {**os.environ}
    env.pop('IN_TEST', None)
    return subprocess.run([*DOCS, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "Build the site once, as a user does, into a temporary folder."
    dest = tmp_path_factory.mktemp('docs')/'site'
    r = _run('site', '--dest', str(dest))
    assert r.returncode == 0, f"site build failed:\n{r.stdout}\n{r.stderr}"
    pages = [(rel, dest/p) for rel, p in _expected_pages()]
    return dest, pages, r

def _expected_pages():
    "(notebook, html page) in sidebar.yml order, as nbdev's sidebar lists them."
    from nbdev.config import nbpath2html
    res = []
    for rel in docs.sidebar_pages():
        if rel.endswith('.ipynb'): res.append((rel, nbpath2html(Path(rel)).as_posix()))
    return res

# ---------------------------------------------------------------------------------------------------------------

def test_readme_is_generated_and_current():
    "README.md is what `tools/docs.py readme` makes from nbs/index.ipynb (CI fails when it is stale)."
    r = _run('readme', '--check')
    assert r.returncode == 0, (r.stdout + r.stderr).strip()
    text = (REPO/'README.md').read_text()
    assert text.startswith('# '), "README must open with the index notebook's title"
    assert 'DO NOT EDIT' in text
    assert '#|' not in text and 'show_doc(' not in text and '{target=' not in text and '<div' not in text
    assert re.search(r'^nbdev-test', text, re.M), "CI runs the README's test command (a line starting with nbdev-test)"
    assert re.search(r'^```sh$', text, re.M) and re.search(r'^\| .* \|$', text, re.M), "code blocks and tables"
    links = [l.split('#')[0] for l in re.findall(r'\]\(([^)\s]+)\)', text) if not l.startswith(('http', '#'))]
    assert [l for l in links if re.fullmatch(r'nbs/[\w.-]+\.ipynb', l)], "the docs links go to the notebooks, which GitHub shows"
    assert not [l for l in links if not (REPO/l).exists()], "every relative link of the README opens a file of the repository"

def test_readme_check_detects_stale(tmp_path, monkeypatch):
    "--check compares with a fresh render and fails with one line when README.md differs."
    new = docs.render_readme()
    fake = tmp_path/'README.md'
    fake.write_text(new + 'hand edit\n')
    monkeypatch.setattr(docs, 'ROOT', tmp_path)
    monkeypatch.setattr(docs, 'render_readme', lambda: new)
    assert docs.cmd_readme(check=True) == 1
    fake.write_text(new)
    assert docs.cmd_readme(check=True) == 0

def _tiny_processed_nb(path):
    "A processed notebook as nbdev leaves it in _proc/: front matter, show_doc output, Quarto cell options."
    import nbformat as nbf
    nb = nbf.v4.new_notebook()
    png = base64.b64encode(b'\x89PNG\r\n\x1a\n' + b'0' * 64).decode()
    sd = nbf.v4.new_code_cell('#| echo: false\n#| output: asis\nshow_doc(f)', outputs=[nbf.v4.new_output(
        'execute_result', {'text/markdown': '---\n\n[source](https://x/y.py#L1){target="_blank" style="float:right"}'
                                            '\n\n### f\n\n```python\ndef f(): pass\n```\n', 'text/plain': 'f()'})])
    sd['has_sd'] = True
    nb.cells = [
        nbf.v4.new_raw_cell('---\ntitle: T\ndescription: D with `code`\noutput-file: t.html\n---\n'),
        sd,
        nbf.v4.new_code_cell('#| include: false\nhidden_cell = 1'),
        nbf.v4.new_code_cell('#| output: false\nprint("quiet")', outputs=[nbf.v4.new_output('stream', text='QUIET\n')]),
        nbf.v4.new_code_cell('#| echo: false\nsecret_source()', outputs=[nbf.v4.new_output('stream', text='shown\n')]),
        nbf.v4.new_code_cell('#| warning: false\nprint(2)', outputs=[
            nbf.v4.new_output('stream', text='two\n'), nbf.v4.new_output('stream', name='stderr', text='WARN\n'),
            nbf.v4.new_output('stream', text='more\n')]),
        nbf.v4.new_code_cell('#| code-fold: show\n#| code-summary: "Exported source"\ndef g(): pass'),
        nbf.v4.new_code_cell('plot()', outputs=[nbf.v4.new_output('display_data', {'image/png': png, 'text/plain': '<Fig>'}),
                                                 nbf.v4.new_output('execute_result', {'text/plain': '42'})]),
        nbf.v4.new_markdown_cell('::: {.callout-note}\nA *note*\n:::\n\nSee [data](03_data.ipynb#x), [f](data.html#f) and [g](https://x/g.html).')]
    path.write_text(json.dumps(nb))  # as nbdev writes it: `has_sd` and null execution counts included
    return path

def test_cell_options_and_pandoc_markup_in_html(tmp_path):
    "Quarto cell options are honoured and nbdev's Pandoc markup (link attributes, callouts) renders, on a tiny notebook."
    nb, front = docs._prepare(_tiny_processed_nb(tmp_path/'t.ipynb'))
    assert front == {'title': 'T', 'description': 'D with `code`', 'output-file': 't.html'}
    html = docs._render(nb, '-t', 'html5')
    assert '#|' not in html and '{target=' not in html and 'has_sd' not in html
    assert '<a href="https://x/y.py#L1" target="_blank" style="float:right">source</a>' in html
    assert re.search(r'<div class="show-doc">.*<h3 id="f">f</h3>', html, re.S)
    assert 'show_doc' not in html and 'hidden_cell' not in html and 'secret_source' not in html  # echo/include false
    assert 'quiet' in html and 'QUIET' not in html and 'shown' in html                             # output: false
    assert 'WARN' not in html and re.search(r'<div class="cell-output cell-output-stdout">\s*<pre><code>two\nmore', html)
    assert '<details class="code-fold" open><summary>Exported source</summary>' in html
    assert '<div class="callout-note">\n<p>A <em>note</em></p>' in html  # a paragraph, also right before `:::`
    assert '&lt;Fig&gt;' not in html  # an output shows one representation: the plot, not also its text/plain
    assert 'src="data:image/png;base64,' not in html  # without --self-contained the plot is a file reference...
    assert re.search(r'<img src="[0-9a-f]{40}\.png"', html)  # ...to pandoc's media bag, embedded by the site build

def test_cell_options_in_readme(tmp_path):
    "The README is GitHub Markdown: code in ```python fences, outputs in bare fences, no images, links to the docs."
    md = docs.render_readme(_tiny_processed_nb(tmp_path/'index.ipynb'))
    assert md.startswith('# T\n\n> D with `code`\n')
    assert '```python\nprint("quiet")\n```' in md and 'QUIET' not in md and 'hidden_cell' not in md
    assert '```\nshown\n```' in md and 'secret_source' not in md and '```\n42\n```' in md
    assert '```python\ndef f(): pass\n```' in md and '### f' in md and '[source](https://x/y.py#L1)' in md
    assert '{target=' not in md and '<div' not in md and ':::' not in md and 'png' not in md.lower()
    assert '[data](nbs/03_data.ipynb#x)' in md and '[f](nbs/03_data.ipynb#f)' in md  # notebooks and docs pages -> notebooks
    assert '[g](https://x/g.html)' in md

def _pinned_pypandoc() -> str:
    "The pypandoc-binary version pinned in pyproject.toml's dev extra."
    import tomllib
    dev = tomllib.loads((REPO/'pyproject.toml').read_text())['project']['optional-dependencies']['dev']
    pins = [re.fullmatch(r'pypandoc-binary\s*==\s*([\w.]+)', d) for d in dev]
    assert any(pins), "the dev extra pins pypandoc-binary exactly (README.md's text depends on the pandoc version)"
    return next(m.group(1) for m in pins if m)

def test_pandoc_is_the_pinned_package(tmp_path, monkeypatch):
    "pandoc is the binary in the pinned pypandoc-binary wheel, even when another pandoc is on PATH; nothing downloaded."
    from importlib.metadata import version, PackageNotFoundError
    try: have = version('pypandoc-binary')
    except PackageNotFoundError: have = None
    assert have, 'pypandoc-binary is not installed: pip install -e ".[dev]"'
    assert have == _pinned_pypandoc(), f"pypandoc-binary {have} installed, {_pinned_pypandoc()} pinned: " \
                                       'pip install -e ".[dev]"'
    (fake := tmp_path/'pandoc').write_text('#!/bin/sh\necho pandoc 0.1\n')
    fake.chmod(0o755)
    monkeypatch.setenv('PATH', f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    path = Path(docs.pandoc_path())
    assert path.parent.name == 'files' and path.parent.parent.name == 'pypandoc'
    assert re.match(r'pandoc(\.exe)? \d+\.\d+', docs._pandoc('', '--version'))

def test_pandoc_missing(tmp_path, monkeypatch):
    "Without pypandoc-binary, one line saying what to install (DocsError, no traceback), even with a pandoc on PATH."
    monkeypatch.setattr(docs.importlib.util, 'find_spec', lambda name: None)
    (fake := tmp_path/'pandoc').write_text('#!/bin/sh\necho pandoc 9.9\n')
    fake.chmod(0o755)
    monkeypatch.setenv('PATH', str(tmp_path))
    with pytest.raises(docs.DocsError, match=r'^pandoc not found: install the dev extra[^\n]*$'): docs._pandoc('', '--version')

def test_notebook_checks_find_problems(tmp_path):
    "The two checks nbdev lacks name the notebook and the cell: extra prose in a title cell, imports mixed with code."
    import nbformat as nbf
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_markdown_cell('# Title\n\n> Description\n\nProse that nbdev would drop.'),
                nbf.v4.new_code_cell('import os\nx = os.sep'), nbf.v4.new_code_cell('#| export\nimport os\nx = 1'),
                nbf.v4.new_code_cell('import os'), nbf.v4.new_code_cell('def f():\n    import os\n    return os.sep')]
    (tmp_path/'01_bad.ipynb').write_text(json.dumps(nb))
    title, mixed = docs.title_cell_problems(tmp_path), docs.mixed_import_cells(tmp_path)
    assert len(title) == 1 and title[0].startswith("01_bad.ipynb: its title cell also holds 1 other line(s) (from 'Prose")
    assert len(mixed) == 1 and mixed[0].startswith("01_bad.ipynb cell 1 mixes imports with other code ('import os')")

def test_title_cells_keep_their_prose():
    "A notebook's `# title` cell holds only the title and `> description`; nbdev drops anything else from the docs."
    problems = docs.title_cell_problems(REPO/'nbs')
    assert not problems, '\n'.join(problems)

def test_no_cells_mixing_imports_and_code():
    "nbdev executes every cell holding an import to render show_doc; such cells must hold imports only."
    problems = docs.mixed_import_cells(REPO/'nbs')
    assert not problems, '\n'.join(problems)

def test_site_structure(site):
    "A page per notebook, all in the sidebar in nbdev's order, with show_doc output, plots as data URIs, offline."
    dest, pages, _ = site
    assert pages and pages[0][1].name == 'index.html'
    htmls = {p: p.read_text() for _, p in pages}
    for p, html in htmls.items():
        assert p.exists(), p
        nav = re.search(r'<nav[^>]*class="docs-sidebar"[^>]*>.*?</nav>', html, re.S).group(0)
        hrefs = re.findall(r'<li><a\b[^>]*?\bhref="([^"]+)"', nav)
        assert hrefs == [q.name for _, q in pages], f"{p.name}: sidebar differs from sidebar.yml"
        assert re.search(r'#\|\s*\w', html) is None, f"{p.name}: a `#|` directive line leaked into the page"
        assert '{target=' not in html and 'has_sd' not in html
        assert '&lt;IPython.core.display.' not in html, f"{p.name}: an output shows its text/plain stand-in"
        # nothing fetched from the network: no external scripts or stylesheets
        assert not re.search(r'<script[^>]+src="https?:', html) and not re.search(r'<link[^>]+href="https?:', html)
        assert not re.search(r'<(?:img|script)[^>]+src="(?!data:)', html), f"{p.name}: not self-contained"
        assert not re.search(r'<link[^>]+href="(?!data:)', html), f"{p.name}: not self-contained"
        assert 'border-left: 2px solid lightsalmon' in html, f"{p.name}: nbs/styles.css not applied"
    api = [p for p, h in htmls.items() if 'class="show-doc"' in h]
    assert api, "no page has show_doc output (the API reference)"
    assert any('src="data:image/png;base64,' in h for h in htmls.values()), "no plot embedded in any page"
    assert {f.name for f in dest.iterdir()} == {p.name for _, p in pages} | {'.nojekyll'}

def test_site_links_resolve(site):
    "Every link within the site (nbdev's doc links included) reaches an existing page and heading id."
    dest, pages, _ = site
    ids = {p.name: set(re.findall(r'\bid="([^"]+)"', p.read_text())) for _, p in pages}
    bad, n = [], 0
    for _, p in pages:
        for href in re.findall(r'<a\b[^>]*?\bhref="([^"]+)"', p.read_text()):
            if re.match(r'^(https?:|mailto:|data:)', href): continue
            page, _, frag = href.partition('#')
            page = page or p.name
            n += 1
            if not (dest/page).exists(): bad.append(f"{p.name}: {href} (no such page)")
            elif frag and page in ids and frag not in ids[page]: bad.append(f"{p.name}: {href} (no such id)")
    assert n > len(pages), "expected the sidebar links at least"
    assert not bad, '\n'.join(bad)

# ---------------------------------------------------------------------------------------------------------------
# Headless Chromium through the DevTools protocol

class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

@contextlib.contextmanager
def serve(folder):
    "Serve `folder` over HTTP on a free loopback port (http.server); always stopped."
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(folder)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try: yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown(); httpd.server_close(); t.join(10)

def _screenshot(cdp, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = base64.b64decode(cdp.send('Page.captureScreenshot', format='png')['data'])
    (ARTIFACTS/name).write_bytes(png)
    return png

@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); CI installs it")
def test_site_in_headless_chromium(site):
    "The home page and an API page load in Chromium with no console errors, nav and plots render; screenshots saved."
    dest, pages, _ = site
    cross = lambda p: re.search(r'href="(?!' + re.escape(p.name) + r')[a-z_]+\.html#', p.read_text())   # a link to another page's heading
    api = next(p for _, p in pages[1:] if 'class="show-doc"' in p.read_text() and cross(p))
    with serve(dest) as base, chromium() as cdp:
        for page in (pages[0][1], api):
            url = base + page.name
            errors = _load(cdp, url)
            assert not errors, f"{page.name}: " + '\n'.join(errors)
            assert cdp.eval('location.href') == url
            assert cdp.eval("document.querySelectorAll('nav.docs-sidebar li a').length") == len(pages)
            assert cdp.eval("document.querySelector('a[aria-current=page]').getAttribute('href')") == page.name
            assert cdp.eval("document.querySelector('main > header h1.title').textContent.trim().length") > 0
            # the stylesheets applied: the sidebar sits left of the content
            assert cdp.eval("document.querySelector('nav.docs-sidebar').getBoundingClientRect().right <= "
                            "document.querySelector('main').getBoundingClientRect().left + 1")
            imgs = cdp.eval("[...document.images].map(i => [i.complete, i.naturalWidth])")
            assert all(c and w > 0 for c, w in imgs), f"{page.name}: an image did not decode: {imgs}"
            png = _screenshot(cdp, f"docs_{page.stem}.png")
            assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 5000
        assert cdp.eval("document.querySelectorAll('.show-doc h3, .show-doc h4').length") > 0
        src = cdp.eval("[...document.querySelectorAll('.show-doc a')].filter(a => a.href.includes('/blob/'))"
                       ".map(a => [a.textContent, a.target, getComputedStyle(a).float])")
        assert src and {tuple(s) for s in src} == {('source', '_blank', 'right')}, src
        # nbs/styles.css (written for Quarto's classes) styles the outputs: salmon rule left of them
        assert cdp.eval("getComputedStyle(document.querySelector('.cell-output > pre')).borderLeftColor") == 'rgb(255, 160, 122)'
        # a doc link to a heading of another page lands on it
        href = cdp.eval("[...document.querySelectorAll('main a')].map(a => a.getAttribute('href'))"
                        ".find(h => /^[a-z_]+\\.html#/.test(h) && !h.startsWith(location.pathname.slice(1)))")
        assert href, "no link to another page's heading"
        assert not _load(cdp, base + href)
        assert cdp.eval(f"document.getElementById({href.split('#')[1]!r}) !== null"), href
        # a page with a plot: its images decode in the browser
        plot = next(p for _, p in pages if 'src="data:image/png;base64,' in p.read_text())
        assert not _load(cdp, base + plot.name)
        n = cdp.eval("[...document.images].filter(i => i.src.startsWith('data:image/png') && i.naturalWidth > 0).length")
        assert n > 0
