#!/usr/bin/env python
"""Build the docs site and README.md from the notebooks in `nbs/` with pandoc, the renderer under Quarto.

    python tools/docs.py site [--dest _docs] [--force]   # offline HTML site, one self-contained page per notebook
    python tools/docs.py readme [--check]                # README.md from nbs/index.ipynb (--check: exit 1 if stale)
    python tools/docs.py quarto                          # the full Quarto site via `nbdev-docs` (needs Quarto)

nbdev processes the notebooks into `_proc/`; `_prepare` applies the `#|` cell options as Quarto would; pandoc reads
them with Quarto's markdown extensions, runs the filter `docs.lua` and, for the site, fills the template `docs.html`.
pandoc is the binary in the `pypandoc-binary` wheel pinned in the `dev` extra, so that README.md comes out the same on
every machine (its text depends on the pandoc version); without that package, `pandoc` on PATH.
"""
from __future__ import annotations
import argparse, contextlib, io, json, os, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import yaml

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
    """nbdev's processing into `_proc/`: show_doc output, linked names, exported/hidden cells removed, front matter.
    The steps of `nbdev-proc-nbs`, called directly because that command first tries to `sudo`-install Quarto."""
    import nbdev.doclinks, nbdev.quarto, nbdev.serve
    cfg = _cfg()
    os.chdir(cfg.config_path)          # nbdev calls a bare `get_config()` in places
    nbdev.quarto.refresh_quarto_yml()  # nbs/_quarto.yml and nbs/nbdev.yml, which nbdev-docs and nbdev-readme need
    if not file_glob:                  # the whole site needs the module index and sidebar.yml; the README neither
        nbdev.doclinks._build_modidx()
        nbdev.quarto.nbdev_sidebar.__wrapped__(path=cfg.nbs_path)
    if force and file_glob: (cfg.config_path/'_proc'/file_glob).unlink(missing_ok=True)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # one notebook in this process, the site in parallel
            return nbdev.serve.proc_nbs(cfg.nbs_path, n_workers=0 if file_glob else min(4, os.cpu_count() or 1),
                                        force=force and not file_glob, file_glob=file_glob)
    except Exception as e: raise DocsError(f"nbdev could not process the notebooks: {_one_line(e)}") from None

# --- Checks nbdev lacks, and the sidebar

def _load(f: Path) -> dict:
    "A notebook's JSON, with each cell's source as one string."
    nb = json.loads(Path(f).read_text())
    for c in nb['cells']: c['source'] = ''.join(c['source'])
    return nb

def title_cell_problems(nbs_path: Path) -> list[str]:
    "Notebooks whose title cell holds more than `# title`/`> description`: nbdev (Quarto too) drops that whole cell."
    res = []
    for f in sorted(Path(nbs_path).glob('*.ipynb')):
        md = [c['source'] for c in _load(f)['cells'] if c['cell_type'] == 'markdown']
        title = next((s for s in md if re.search(r'^#\s+\S', s, re.M)), '')
        extra = [l for l in title.splitlines() if l.strip() and not re.match(r'^(#\s+\S|>\s)', l)]
        if extra: res.append(f"{f.name}: its title cell also holds {len(extra)} other line(s) (from "
                             f"{extra[0][:40]!r}); nbdev turns that cell into the page title/description and drops "
                             "the rest: move them to a new markdown cell")
    return res

def mixed_import_cells(nbs_path: Path) -> list[str]:
    "Code cells mixing imports with other code: nbdev runs every cell holding an import to build the docs (show_doc)."
    import ast
    imp, scope = (ast.Import, ast.ImportFrom), (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    def imports(node):  # an import outside function and class bodies
        return isinstance(node, imp) or not isinstance(node, scope) and any(map(imports, ast.iter_child_nodes(node)))
    res = []
    for f in sorted(Path(nbs_path).glob('*.ipynb')):
        for i, c in enumerate(_load(f)['cells']):
            dirs, src = split_directives(c['source'])
            if c['cell_type'] != 'code' or dirs.keys() & {'export', 'exports', 'exporti', 'exec_doc'}: continue
            src = '\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!')))
            try: tree = ast.parse(src)
            except SyntaxError: continue
            if not _false(dirs.get('eval')) and imports(tree) and not all(isinstance(n, imp) for n in tree.body):
                first = src.strip().splitlines()[0][:50]
                res.append(f"{f.name} cell {i} mixes imports with other code ({first!r}); nbdev runs such cells "
                           "when it builds the docs: put the imports in a cell of their own")
    return res

def sidebar_pages(cfg=None) -> list:
    "Notebook paths (relative to nbs/) in `sidebar.yml` order, with their sections: [(section or None, rel_path)]."
    res = []
    def walk(items, section):
        for it in items or []:
            if isinstance(it, str): res.append((section, it))
            elif isinstance(it, dict):
                if 'href' in it: res.append((it.get('section'), it['href']))
                walk(it.get('contents'), it.get('section', section))
    walk(yaml.safe_load(((cfg or _cfg()).nbs_path/'sidebar.yml').read_text())['website']['sidebar']['contents'], None)
    return res

# --- What Quarto does before pandoc, and pandoc

def split_directives(source: str) -> tuple[dict, str]:
    "Leading `#| key: value` lines of a code cell as a dict, and the source without them."
    dirs, lines = {}, source.splitlines(True)
    while lines:
        m = re.match(r'^\s*#\s*\|\s*([^\s:]+)\s*:?\s?(.*?)\s*$', lines[0])
        if m: dirs[m.group(1)] = m.group(2).strip().strip('"\'')
        elif lines[0].strip(): break
        lines.pop(0)
    return dirs, ''.join(lines)

def _false(v) -> bool: return str(v).lower() == 'false'

def _prepare(path: Path, readme: bool = False) -> tuple[dict, dict]:
    "A processed notebook as pandoc should read it (Quarto's cell options applied), and its front matter."
    nb, front, cells = _load(path), {}, []
    for c in nb['cells']:
        c.pop('id', None)  # Quarto shows no cell ids
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

def bundled_pandoc() -> Path | None:
    """The pandoc binary inside the `pypandoc-binary` wheel (pinned in the `dev` extra), if installed. Found without
    importing pypandoc: its `get_pandoc_path()` would prefer any newer pandoc on PATH, and README.md's exact text
    depends on the pandoc version."""
    import importlib.util
    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec('pypandoc')
        for d in (spec.submodule_search_locations or []) if spec else []:
            for name in ('pandoc', 'pandoc.exe'):
                if (f := Path(d)/'files'/name).is_file(): return f
    return None

def pandoc_path() -> str:
    "pandoc from pypandoc-binary (the same version everywhere); else `pandoc` on PATH, with a note; else DocsError."
    if (p := bundled_pandoc()): return str(p)
    if (p := shutil.which('pandoc')):
        global _warned
        if not _warned:
            print("docs: note: pypandoc-binary is not installed, using pandoc from PATH; README.md may then differ "
                  "from CI's: pip install -e \".[dev]\"", file=sys.stderr)
            _warned = True
        return p
    raise DocsError("pandoc not found: install the dev extra, pip install -e \".[dev]\" (it holds pypandoc-binary)")
_warned = False

def _pandoc(text: str, *args: str) -> str:
    r = subprocess.run([pandoc_path(), *args], input=text, capture_output=True, text=True)
    if r.returncode: raise DocsError(f"pandoc failed: {_one_line(r.stderr or r.returncode)}")
    for l in r.stderr.splitlines(): print(f"docs: pandoc: {l}", file=sys.stderr)
    return r.stdout

def _render(nb: dict, *args: str) -> str:
    return _pandoc(json.dumps(nb), '-f', READER, '--lua-filter', str(HERE/'docs.lua'), '--wrap=none', *args)

# --- README

def render_readme(proc: Path | None = None) -> str:
    "README.md text from nbs/<readme_nb> (or processed notebook `proc`): pandoc to GitHub Markdown, doc links."
    from nbdev.readme_filter import rewrite_links
    cfg = _cfg()
    name = cfg.get('readme_nb', 'index.ipynb')
    if not (proc or (cfg.nbs_path/name).exists()): raise DocsError(f"{cfg.nbs_path/name}: README notebook not found")
    nb, front = _prepare(proc or proc_nbs(file_glob=name, force=True)/name, readme=True)
    head = f"# {front.get('title') or cfg.lib_name}"
    if front.get('description'): head += f"\n\n> {front['description']}"
    nb['cells'].insert(0, {'cell_type': 'markdown', 'metadata': {}, 'source': head})
    ast = json.loads(_render(nb, '-t', 'json', '-M', 'docs-readme=true'))
    rewrite_links(ast['blocks'], cfg.doc_url, Path(name).parent.as_posix())  # the filter nbdev-readme gives Quarto
    return _pandoc(json.dumps(ast), '-f', 'json', '-t', 'gfm', '--wrap=preserve').strip() + '\n'

def cmd_readme(check: bool = False) -> int:
    path, new = ROOT/'README.md', render_readme()
    if not check:
        path.write_text(new)
        print(f"wrote {path.relative_to(ROOT)}")
    elif not path.exists() or path.read_text() != new:
        print(f"README.md is stale: it differs from nbs/{_cfg().get('readme_nb', 'index.ipynb')}; "
              "run `python tools/docs.py readme` and commit it", file=sys.stderr)
        return 1
    else: print("README.md is up to date")
    return 0

# --- HTML site

def build_site(dest: Path | None = None, force: bool = False) -> Path:
    "Build the HTML site into `dest` (default: the configured doc_path, `_docs/`). Returns `dest`."
    from nbdev.config import nbpath2html
    cfg = _cfg()
    dest = Path(dest or cfg.doc_path).absolute()
    for msg in title_cell_problems(cfg.nbs_path) + mixed_import_cells(cfg.nbs_path):
        print(f"docs: warning: {msg}", file=sys.stderr)
    cache, pages, links = proc_nbs(force=force), [], {cfg.doc_url: 'index.html'}  # links: to this site's pages
    for section, rel in sidebar_pages(cfg):
        if not rel.endswith('.ipynb'): print(f"docs: skipping {rel}: not a notebook", file=sys.stderr); continue
        if not (cache/rel).exists(): raise DocsError(f"{cache/rel}: nbdev did not produce this processed notebook")
        nb, front = _prepare(cache/rel)
        href = front.get('output-file') or nbpath2html(Path(rel)).as_posix()
        links.update({rel: href, Path(rel).name: href, cfg.doc_url + href: href})  # notebooks, published docs
        heading = section if section != (pages[-1][2]['section'] if pages else None) else None  # at its 1st page
        pages.append((nb, front, {'href': href, 'title': str(front.get('title') or rel), 'section': section,
                                  'heading': heading}))
    if not pages: raise DocsError(f"no notebooks listed in {cfg.nbs_path/'sidebar.yml'}")
    site, styles = cfg.get('title', cfg.lib_name), cfg.nbs_path/'styles.css'
    version = tuple(int(n) for n in re.findall(r'\d+', _pandoc('', '--version'))[:2])
    embed = '--embed-resources' if version >= (2, 19) else '--self-contained'  # deprecated from 2.19 on
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    (dest/'.nojekyll').touch()
    with tempfile.TemporaryDirectory() as td:
        for nb, front, page in pages:
            meta = Path(td)/'meta.yaml'
            meta.write_text(yaml.safe_dump({
                **front, 'title': page['title'], 'site': site, 'docs-links': links,
                'pagetitle': page['title'] if page['href'] == 'index.html' else f"{page['title']} – {site}",
                'nav': [{**n, 'current': n is page} for _, _, n in pages]}, allow_unicode=True))
            _render(nb, '-t', 'html5', '--standalone', embed, '--template', str(HERE/'docs.html'),
                    '--metadata-file', str(meta), '--resource-path', str(cfg.nbs_path), '-o', str(dest/page['href']),
                    '-V', f"repo={cfg.get('git_url', '')}",  # a variable: taken as is, not as markdown
                    *(['--css', str(styles)] if styles.exists() else []))
    return dest

def cmd_quarto() -> int:
    if not shutil.which('quarto'):
        print("Quarto is not installed. With internet access install it with `nbdev-install-quarto` (uses sudo) or "
              "`pip install quarto-cli`, then run `nbdev-docs`. Without Quarto: `python tools/docs.py site`.",
              file=sys.stderr)
        return 1
    os.chdir(ROOT)
    return subprocess.call(['nbdev-docs'])

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='tools/docs.py', description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('site', help='build the HTML docs site with pandoc (no Quarto needed)')
    s.add_argument('--dest', type=Path, default=None, help='output folder (default: doc_path from pyproject, _docs/)')
    s.add_argument('--force', action='store_true', help='reprocess every notebook, ignoring the _proc/ cache')
    sub.add_parser('readme', help='generate README.md from nbs/index.ipynb').add_argument(
        '--check', action='store_true', help='do not write; exit 1 if README.md is stale')
    sub.add_parser('quarto', help='build the Quarto site with nbdev-docs (needs Quarto)')
    a = p.parse_args(argv)
    try:
        if a.cmd != 'site': return cmd_readme(a.check) if a.cmd == 'readme' else cmd_quarto()
        t0, out = time.time(), build_site(a.dest, a.force)
        print(f"built {len(list(out.glob('*.html')))} pages into {out} in {time.time() - t0:.0f} s; "
              f"open {out/'index.html'} or serve it: python -m http.server -d {out}")
        return 0
    except DocsError as e:
        print(f"docs: {e}", file=sys.stderr)
        return 1

if __name__ == '__main__':
    sys.exit(main())
