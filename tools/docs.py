#!/usr/bin/env python
"""Build the docs site and README.md from the notebooks in `nbs/` with pandoc, the renderer under Quarto.

    python tools/docs.py site [--dest _docs] [--force]   # offline HTML site, one self-contained page per notebook
    python tools/docs.py readme [--check]                # README.md from nbs/index.ipynb (--check: exit 1 if stale)

nbdev processes the notebooks into `_proc/`; `_prepare` applies the `#|` cell options as Quarto would; pandoc reads
them with Quarto's markdown extensions, runs the filter `docs.lua` and, for the site, fills the template `docs.html`.
pandoc is the binary of the `pypandoc-binary` wheel pinned in the `dev` extra: README.md's text depends on its version.
With Quarto installed, `nbdev-docs` builds nbdev's usual site instead.
"""
from __future__ import annotations
import argparse, contextlib, importlib.util, io, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import yaml
from cell_stats import mixed_import_cells, split_directives, title_cell_problems  # the notebook checks nbdev lacks

ROOT, HERE = Path(__file__).resolve().parents[1], Path(__file__).resolve().parent
READER = 'ipynb+link_attributes+fenced_divs-gfm_auto_identifiers'

class DocsError(Exception): "A problem reported as one line, without a traceback."

def _cfg():
    from nbdev.config import get_config
    return get_config(ROOT)

def _one_line(e) -> str:
    "The first and last line of a message (nbdev's hold the failing cell's source in between)."
    lines = [l for l in str(e).strip().splitlines() if l.strip()] or [type(e).__name__]
    return lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"

def proc_nbs(file_glob: str = '', force: bool = False) -> Path:
    "nbdev's processing into `_proc/` (show_doc output, linked names, hidden cells removed), without `nbdev-proc-nbs`'s Quarto install."
    import nbdev.doclinks, nbdev.quarto, nbdev.serve
    cfg = _cfg()
    os.chdir(cfg.config_path)          # nbdev calls a bare `get_config()` in places
    nbdev.quarto.refresh_quarto_yml()  # nbs/_quarto.yml and nbs/nbdev.yml, which the README's links need
    if not file_glob:                  # the whole site needs the module index and sidebar.yml; the README neither
        nbdev.doclinks._build_modidx()
        nbdev.quarto.nbdev_sidebar.__wrapped__(path=cfg.nbs_path)
    if force and file_glob: (cfg.config_path/'_proc'/file_glob).unlink(missing_ok=True)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return nbdev.serve.proc_nbs(cfg.nbs_path, n_workers=0 if file_glob else min(4, os.cpu_count() or 1),
                                        force=force and not file_glob, file_glob=file_glob)
    except Exception as e: raise DocsError(f"nbdev could not process the notebooks: {_one_line(e)}") from None

def sidebar_pages(cfg=None) -> list:
    "Notebook paths (relative to nbs/) in `sidebar.yml` order."
    items = yaml.safe_load(((cfg or _cfg()).nbs_path/'sidebar.yml').read_text())['website']['sidebar']['contents']
    return [it if isinstance(it, str) else it['href'] for it in items]

def _false(v) -> bool: return str(v).lower() == 'false'

def _prepare(path: Path, readme: bool = False) -> tuple[dict, dict]:
    "A processed notebook as pandoc should read it (Quarto's cell options applied), and its front matter."
    nb, front, cells = json.loads(Path(path).read_text()), {}, []
    for c in nb['cells']:
        c.pop('id', None)  # Quarto shows no cell ids
        c['source'] = ''.join(c['source'])
        if c['cell_type'] == 'raw' and not front and c['source'].startswith('---'):
            front = yaml.safe_load(c['source'].strip().strip('-')) or {}
            continue
        if c['cell_type'] != 'code': cells.append(c); continue
        dirs, src = split_directives(c['source'])
        if _false(dirs.get('include')): continue
        outs = [] if _false(dirs.get('output')) else c['outputs']
        if _false(dirs.get('warning')): outs = [o for o in outs if o.get('name') != 'stderr']
        if readme: outs = [o for o in outs if not any(k.startswith('image/') for k in o.get('data', {}))]  # text only
        cells.append(code := dict(cell_type='code', execution_count=None, outputs=[], source=src,
                                  metadata={k: dirs[k] for k in ('code-fold', 'code-summary') if k in dirs}))
        if _false(dirs.get('echo')): code['source'] = ''
        for o in outs:
            prev, data = (code['outputs'] or [{}])[-1], o.get('data', {})
            if o['output_type'] == 'stream' and prev.get('name') == o['name']:  # one block per stream, as Jupyter
                prev['text'] = ''.join(prev['text']) + ''.join(o['text'])
            elif 'text/markdown' in data and (readme or 'text/html' not in data):  # show_doc's: markdown in the page
                md = ''.join(data['text/markdown'])
                cells.append({'cell_type': 'markdown', 'metadata': {}, 'source': f"::: {{.show-doc}}\n{md}\n:::"
                              if c.get('has_sd') else md})
                cells.append(code := dict(code, metadata={}, source='', outputs=[]))
            else: code['outputs'].append({**o, 'execution_count': 0} if 'execution_count' in o else o)  # not null
    nb['cells'] = [c for c in cells if c['cell_type'] != 'code' or c['source'].strip() or c['outputs']]
    return nb, front

def pandoc_path() -> str:
    "The pandoc binary of the pinned `pypandoc-binary` wheel (found without importing pypandoc, which prefers a newer one on PATH)."
    spec = importlib.util.find_spec('pypandoc')
    for d in (spec.submodule_search_locations or []) if spec else []:
        for name in ('pandoc', 'pandoc.exe'):
            if (f := Path(d)/'files'/name).is_file(): return str(f)
    raise DocsError("pandoc not found: install the dev extra, pip install -e \".[dev]\" (it holds pypandoc-binary)")

def _pandoc(text: str, *args: str) -> str:
    r = subprocess.run([pandoc_path(), *args], input=text, capture_output=True, text=True)
    if r.returncode: raise DocsError(f"pandoc failed: {_one_line(r.stderr or r.returncode)}")
    for l in r.stderr.splitlines(): print(f"docs: pandoc: {l}", file=sys.stderr)
    return r.stdout

def _render(nb: dict, *args: str) -> str:
    return _pandoc(json.dumps(nb), '-f', READER, '--lua-filter', str(HERE/'docs.lua'), '--wrap=none', *args)

def readme_links(cfg=None) -> dict:
    "The README's link targets: each notebook, and its page of the docs site, -> the notebook in `nbs/` (GitHub shows it)."
    from nbdev.config import nbpath2html
    cfg = cfg or _cfg()
    nbs = cfg.nbs_path.relative_to(cfg.config_path).as_posix()
    pages = {f.name: nbpath2html(Path(f.name)).as_posix() for f in sorted(cfg.nbs_path.glob('*.ipynb'))}
    return {k: f'{nbs}/{name}' for name, html in pages.items() for k in (name, html, cfg.doc_url + html)}  # show_doc links: doc_url

def render_readme(proc: Path | None = None) -> str:
    "README.md text from nbs/<readme_nb> (or processed notebook `proc`): pandoc to GitHub Markdown, links to the notebooks."
    cfg = _cfg()
    name = cfg.get('readme_nb', 'index.ipynb')
    if not (proc or (cfg.nbs_path/name).exists()): raise DocsError(f"{cfg.nbs_path/name}: README notebook not found")
    nb, front = _prepare(proc or proc_nbs(file_glob=name, force=True)/name, readme=True)
    head = f"# {front.get('title') or cfg.lib_name}" + (f"\n\n> {front['description']}" if front.get('description') else '')
    nb['cells'].insert(0, {'cell_type': 'markdown', 'metadata': {}, 'source': head})
    with tempfile.TemporaryDirectory() as td:  # the links work on GitHub and in a clone, before the docs site is published
        (meta := Path(td)/'meta.yaml').write_text(yaml.safe_dump({'docs-readme': True, 'docs-links': readme_links(cfg)}))
        return _render(nb, '-t', 'gfm', '--wrap=preserve', '--metadata-file', str(meta)).strip() + '\n'

def cmd_readme(check: bool = False) -> int:
    path, new = ROOT/'README.md', render_readme()
    if not check: path.write_text(new); print(f"wrote {path.relative_to(ROOT)}")
    elif not path.exists() or path.read_text() != new:
        print("README.md is stale: it differs from nbs/index.ipynb; run `python tools/docs.py readme` and commit it",
              file=sys.stderr)
        return 1
    else: print("README.md is up to date")
    return 0

def build_site(dest: Path | None = None, force: bool = False) -> Path:
    "Build the HTML site into `dest` (default: the configured doc_path, `_docs/`). Returns `dest`."
    from nbdev.config import nbpath2html
    cfg = _cfg()
    dest = Path(dest or cfg.doc_path).absolute()
    for msg in title_cell_problems(cfg.nbs_path) + mixed_import_cells(cfg.nbs_path): print(f"docs: warning: {msg}", file=sys.stderr)
    cache, pages, links = proc_nbs(force=force), [], {cfg.doc_url: 'index.html'}  # links: to this site's pages
    for rel in sidebar_pages(cfg):
        if not (cache/rel).exists(): raise DocsError(f"{cache/rel}: nbdev did not produce this processed notebook")
        nb, front = _prepare(cache/rel)
        href = front.get('output-file') or nbpath2html(Path(rel)).as_posix()
        links.update({rel: href, Path(rel).name: href, cfg.doc_url + href: href})  # notebooks, published docs
        pages.append((nb, front, {'href': href, 'title': str(front.get('title') or rel)}))
    site, styles = cfg.get('title', cfg.lib_name), cfg.nbs_path/'styles.css'
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    (dest/'.nojekyll').touch()
    with tempfile.TemporaryDirectory() as td:
        for nb, front, page in pages:
            (meta := Path(td)/'meta.yaml').write_text(yaml.safe_dump({
                **front, 'title': page['title'], 'site': site, 'docs-links': links,
                'pagetitle': page['title'] if page['href'] == 'index.html' else f"{page['title']} – {site}",
                'nav': [{**n, 'current': n is page} for _, _, n in pages]}, allow_unicode=True))
            _render(nb, '-t', 'html5', '--standalone', '--embed-resources', '--template', str(HERE/'docs.html'),
                    '--metadata-file', str(meta), '--resource-path', str(cfg.nbs_path), '-o', str(dest/page['href']),
                    '-V', f"repo={cfg.get('git_url', '')}",  # a variable: taken as is, not as markdown
                    *(['--css', str(styles)] if styles.exists() else []))
    return dest

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='tools/docs.py', description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('site', help='build the HTML docs site with pandoc (no Quarto needed)')
    s.add_argument('--dest', type=Path, default=None, help='output folder (default: doc_path from pyproject, _docs/)')
    s.add_argument('--force', action='store_true', help='reprocess every notebook, ignoring the _proc/ cache')
    sub.add_parser('readme', help='generate README.md from nbs/index.ipynb').add_argument(
        '--check', action='store_true', help='do not write; exit 1 if README.md is stale')
    a = p.parse_args(argv)
    try:
        if a.cmd == 'readme': return cmd_readme(a.check)
        t0, out = time.time(), build_site(a.dest, a.force)
        print(f"built {len(list(out.glob('*.html')))} pages into {out} in {time.time() - t0:.0f} s; "
              f"open {out/'index.html'} or serve it: python -m http.server -d {out}")
        return 0
    except DocsError as e:
        print(f"docs: {e}", file=sys.stderr)
        return 1

if __name__ == '__main__':
    sys.exit(main())
