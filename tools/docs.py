#!/usr/bin/env python
"""Build the docs site and README.md from the notebooks in `nbs/`.

    python tools/docs.py site [--dest _docs] [--force]   # offline HTML site, no Quarto needed
    python tools/docs.py readme [--check]                # README.md from nbs/index.ipynb (--check: exit 1 if stale)
    python tools/docs.py quarto                          # the full Quarto site via `nbdev-docs` (needs Quarto)

Both offline builds start from nbdev's own processed notebooks: the steps of `nbdev-proc-nbs` (`_quarto.yml`/`nbdev.yml`,
the module index, `sidebar.yml` from `nbdev_sidebar`, then `proc_nbs`, which inserts `show_doc` output, links names,
removes exported/hidden cells and writes the title/description front matter) into `_proc/`. We call those steps
directly rather than the `nbdev-proc-nbs` command only because that command first tries to download and `sudo`-install
Quarto when it is missing. The processed notebooks are then rendered by nbconvert: `HTMLExporter` (JupyterLab template,
plus a sidebar listing the pages of `sidebar.yml`) for the site, `MarkdownExporter` for the README. Between the two,
`_prepare` does what Quarto would: it honours the Quarto cell options nbdev leaves as `#|` lines (`echo`, `include`,
`output`, `warning`, `code-fold`, `code-summary`), turns the Pandoc-only bits of `show_doc` output into HTML, and
strips the keys nbconvert's schema rejects (`has_sd`, `metadata.execution`).
"""
from __future__ import annotations

import argparse, contextlib, copy, io, os, re, shutil, subprocess, sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

class DocsError(Exception): "A problem reported as one line, without a traceback."

# ---------------------------------------------------------------------------------------------------------------
# nbdev processing

def _cfg():
    from nbdev.config import get_config
    return get_config(ROOT)

def _one_line(e: BaseException) -> str:
    "The first and last line of an exception's message (nbdev's include the failing cell's source in between)."
    lines = [l for l in str(e).strip().splitlines() if l.strip()] or [type(e).__name__]
    return lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"

def proc_nbs(file_glob: str = '', force: bool = False, n_workers: int | None = None) -> Path:
    "Run nbdev's notebook processing (the steps of `nbdev-proc-nbs`, without its Quarto install); returns `_proc/`."
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.serve import proc_nbs as _proc_nbs
    import nbdev.doclinks
    cfg = _cfg()
    os.chdir(cfg.config_path)  # nbdev calls a bare `get_config()` in places
    refresh_quarto_yml()       # nbs/_quarto.yml and nbs/nbdev.yml, which nbdev-docs and nbdev-readme need
    if not file_glob:          # the whole site, as nbdev-proc-nbs; the README alone needs neither (as nbdev-readme)
        nbdev.doclinks._build_modidx()
        nbdev_sidebar.__wrapped__(path=cfg.nbs_path)
    if n_workers is None: n_workers = min(4, os.cpu_count() or 1)
    cache = cfg.config_path/'_proc'
    if force and file_glob: (cache/file_glob).unlink(missing_ok=True)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return _proc_nbs(cfg.nbs_path, n_workers=n_workers, force=force and not file_glob, file_glob=file_glob)
    except Exception as e:
        raise DocsError(f"nbdev could not process the notebooks: {_one_line(e)}") from None

def title_cell_problems(nbs_path: Path) -> list[str]:
    "Notebooks whose title cell holds more than `# title`/`> description`: nbdev (Quarto too) drops that whole cell."
    import nbformat
    res = []
    for f in sorted(Path(nbs_path).glob('*.ipynb')):
        nb = nbformat.read(f, as_version=4)
        cell = next((c for c in nb.cells if c.cell_type == 'markdown' and re.search(r'^#\s+\S', c.source, re.M)), None)
        if cell is None: continue
        extra = [l for l in cell.source.splitlines() if l.strip() and not re.match(r'^(#\s+\S|>\s)', l)]
        if extra: res.append(f"{f.name}: its title cell also holds {len(extra)} other line(s) (from {extra[0][:40]!r}); "
                             f"nbdev turns that cell into the page title/description and drops the rest: "
                             f"move them to a new markdown cell")
    return res

def _imports_outside_defs(tree) -> bool:
    import ast
    todo = list(tree.body)
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.Import, ast.ImportFrom)): return True
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)): continue
        todo.extend(ast.iter_child_nodes(n))
    return False

def mixed_import_cells(nbs_path: Path) -> list[str]:
    "Code cells mixing imports with other code. nbdev runs every cell holding an import to build the docs (for show_doc)."
    import ast, nbformat
    res = []
    for f in sorted(Path(nbs_path).glob('*.ipynb')):
        for i, c in enumerate(nbformat.read(f, as_version=4).cells):
            if c.cell_type != 'code': continue
            dirs, src = split_directives(c.source)
            if dirs.keys() & {'export', 'exports', 'exporti', 'exec_doc'} or _false(dirs.get('eval', 'true')): continue
            src = '\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!')))
            try: tree = ast.parse(src)
            except SyntaxError: continue
            if _imports_outside_defs(tree) and not all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body):
                first = next((l for l in src.splitlines() if l.strip()), '')
                res.append(f"{f.name} cell {i} mixes imports with other code ({first[:50]!r}); nbdev runs such cells "
                           f"when it builds the docs: put the imports in a cell of their own")
    return res

def sidebar_pages(cfg=None) -> list:
    "Notebook paths (relative to nbs/) in `sidebar.yml` order, with their sections: [(section or None, rel_path)]."
    cfg = cfg or _cfg()
    sb = yaml.safe_load((cfg.nbs_path/'sidebar.yml').read_text())
    res = []
    def walk(items, section):
        for it in items or []:
            if isinstance(it, str): res.append((section, it))
            elif isinstance(it, dict):
                if 'href' in it: res.append((it.get('section'), it['href']))
                walk(it.get('contents'), it.get('section', section))
    walk(sb['website']['sidebar']['contents'], None)
    return res

# ---------------------------------------------------------------------------------------------------------------
# Make a processed notebook nbconvert-ready: what Quarto would do with it

_re_dir = re.compile(r'^\s*#\s*\|\s*([^\s:]+)\s*:?\s?(.*?)\s*$')

def split_directives(source: str) -> tuple[dict, str]:
    "Leading `#| key: value` lines of a code cell as a dict, and the source without them."
    lines, dirs = source.splitlines(True), {}
    i = 0
    while i < len(lines):
        m = _re_dir.match(lines[i])
        if m: dirs[m.group(1)] = m.group(2).strip().strip('"\'')
        elif lines[i].strip(): break
        i += 1
    return dirs, ''.join(lines[i:])

def _false(v): return str(v).lower() == 'false'

# `[text](url){key="value" .class}`: Pandoc link attributes (show_doc's "source" link); nbconvert's Markdown lacks them
_re_attr_link = re.compile(r'\[([^\]\n]*)\]\(([^)\s]+)\)\{([^}\n]*)\}')
_re_attr = re.compile(r'([\w-]+)="([^"]*)"|\.([\w-]+)|#([\w-]+)')

def _attr_link_html(m):
    attrs, classes = {}, []
    for k, v, cls, id_ in _re_attr.findall(m.group(3)):
        if k: attrs[k] = v
        elif cls: classes.append(cls)
        elif id_: attrs['id'] = id_
    if classes: attrs['class'] = ' '.join(classes)
    if attrs.get('target') == '_blank': attrs['rel'] = 'noopener'
    extra = ''.join(f' {k}="{v}"' for k, v in attrs.items())
    return f'<a href="{m.group(2)}"{extra}>{m.group(1)}</a>'

def _md_for_html(src: str) -> str:
    "Pandoc-only Markdown -> what nbconvert's Markdown renders: attribute links, `:::` fenced divs (callouts)."
    src = _re_attr_link.sub(_attr_link_html, src)
    out = []
    for line in src.split('\n'):
        m = re.match(r'^\s*:::+\s*(\{[^}]*\}|[\w.-]+)?\s*$', line)
        if m is None: out.append(line); continue
        if m.group(1) is None: out.append('\n</div>\n'); continue
        classes = ' '.join(c.lstrip('.') for c in re.findall(r'\.[\w-]+', m.group(1))) or m.group(1).strip('{}.')
        out.append(f'<div class="{classes}">\n')
    return '\n'.join(out)

def _md_for_readme(src: str) -> str:
    "Pandoc-only Markdown -> GitHub Markdown: attribute links lose their attributes, `:::` lines go."
    src = _re_attr_link.sub(lambda m: f'[{m.group(1)}]({m.group(2)})', src)
    return '\n'.join(l for l in src.split('\n') if not re.match(r'^\s*:::', l))

def _join(s): return ''.join(s) if isinstance(s, list) else s

def _prepare(nb, md_fix):
    "Honour Quarto cell options; strip nbdev's extra keys; take the front matter out. Returns (nb, frontmatter)."
    nb = copy.deepcopy(nb)
    front, cells = {}, []
    for i, cell in enumerate(nb.cells):
        if cell.pop('has_sd', None): cell.setdefault('metadata', {}).setdefault('tags', []).append('showdoc')
        cell.get('metadata', {}).pop('execution', None)
        cell.source = _join(cell.source)
        if cell.cell_type == 'raw' and not front and cell.source.lstrip().startswith('---'):
            front = yaml.safe_load(cell.source.strip().strip('-')) or {}
            continue
        if cell.cell_type == 'markdown':
            cell.source = md_fix(cell.source)
        if cell.cell_type == 'code':
            dirs, cell.source = split_directives(cell.source)
            tags = cell.metadata.setdefault('tags', [])
            if _false(dirs.get('include', 'true')): continue
            if _false(dirs.get('echo', 'true')): tags.append('remove_input')
            if _false(dirs.get('output', 'true')): cell.outputs = []
            if _false(dirs.get('warning', 'true')):
                cell.outputs = [o for o in cell.outputs if not (o.output_type == 'stream' and o.name == 'stderr')]
            fold = dirs.get('code-fold')
            if fold and not _false(fold):
                cell.metadata['docs_fold'] = 'show' if fold == 'show' else 'hide'
                cell.metadata['docs_fold_summary'] = dirs.get('code-summary', 'Code')
            for o in cell.get('outputs', []):
                if 'text/markdown' in o.get('data', {}): o.data['text/markdown'] = md_fix(_join(o.data['text/markdown']))
            if not cell.source.strip() and not cell.outputs: continue
        cells.append(cell)
    nb.cells = cells
    import nbformat
    try: nbformat.validate(nb)
    except nbformat.ValidationError as e: raise DocsError(f"processed notebook is not valid nbformat: {_one_line(e)}") from None
    return nb, front

def _title(nb, front, fallback):
    if front.get('title'): return str(front['title'])
    for c in nb.cells:
        if c.cell_type == 'markdown':
            m = re.search(r'^#\s+(.+)$', c.source, re.M)
            if m: return m.group(1).strip()
    return fallback

# ---------------------------------------------------------------------------------------------------------------
# README

README_TEMPLATE = r"""{%- extends 'markdown/index.md.j2' -%}
{% block input %}
```python
{{ cell.source }}
```
{% endblock input %}
{% block stream %}
```
{{ output.text.rstrip() }}
```
{% endblock stream %}
{% block data_text scoped %}
```
{{ output.data['text/plain'].rstrip() }}
```
{% endblock data_text %}
{% block error %}
```
{{ output.ename }}: {{ output.evalue }}
```
{% endblock error %}
"""

def _readme_links(md: str, doc_url: str) -> str:
    "Relative links to notebooks/pages -> the published docs, as nbdev's README filter does."
    from nbdev.readme_filter import doc_link
    return re.sub(r'(\]\()([^)\s]+)(\))', lambda m: m.group(1) + doc_link(m.group(2), doc_url) + m.group(3), md)

def render_readme() -> str:
    "README.md text from nbs/<readme_nb>, via nbdev processing and nbconvert's MarkdownExporter."
    import nbformat, jinja2
    from nbconvert import MarkdownExporter
    from traitlets.config import Config
    cfg = _cfg()
    name = cfg.get('readme_nb', 'index.ipynb')
    if not (cfg.nbs_path/name).exists(): raise DocsError(f"{cfg.nbs_path/name}: README notebook not found")
    cache = proc_nbs(file_glob=name, force=True, n_workers=0)
    nb, front = _prepare(nbformat.read(cache/name, as_version=4), _md_for_readme)
    head = f"# {_title(nb, front, cfg.lib_name)}\n"
    if front.get('description'): head += f"\n> {front['description']}\n"
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(head))
    for cell in nb.cells:  # plots stay in the docs site: the README is text (PyPI cannot show relative images)
        if cell.cell_type == 'code':
            cell.outputs = [o for o in cell.outputs if not any(k.startswith('image/') for k in o.get('data', {}))]
    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {'remove_input'}
    c.ExtractOutputPreprocessor.enabled = False
    c.NbConvertBase.display_data_priority = ['text/markdown', 'text/plain']  # no images/HTML: README stays clean text
    exp = MarkdownExporter(config=c, template_file='readme.md.j2',
                           extra_loaders=[jinja2.DictLoader({'readme.md.j2': README_TEMPLATE})])
    md, _ = exp.from_notebook_node(nb)
    md = _readme_links(md, cfg.doc_url)
    md = re.sub(r'[ \t]+\n', '\n', md)
    return re.sub(r'\n{3,}', '\n\n', md).strip() + '\n'

def cmd_readme(check: bool = False) -> int:
    path = ROOT/'README.md'
    new = render_readme()
    if check:
        if not path.exists() or path.read_text() != new:
            print(f"README.md is stale: it differs from nbs/{_cfg().get('readme_nb', 'index.ipynb')}; "
                  f"run `python tools/docs.py readme` and commit it", file=sys.stderr)
            return 1
        print("README.md is up to date")
        return 0
    path.write_text(new)
    print(f"wrote {path.relative_to(ROOT)}")
    return 0

# ---------------------------------------------------------------------------------------------------------------
# HTML site

PAGE_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}
<link rel="icon" href="data:,">
{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- if resources.docs.mathjax_url -%}{{ mathjax(resources.docs.mathjax_url) }}{%- endif -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block notebook_css %}
<link rel="stylesheet" href="{{ resources.docs.root }}_static/lab.css">
<link rel="stylesheet" href="{{ resources.docs.root }}_static/site.css">
{%- if resources.docs.styles %}
<link rel="stylesheet" href="{{ resources.docs.root }}styles.css">
{%- endif %}
{% endblock notebook_css %}
{%- block body_header -%}
<body class="jp-Notebook docs-body" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
<nav class="docs-sidebar" aria-label="Pages">
{{ resources.docs.nav_html }}
</nav>
<main class="docs-main">
<header class="docs-header">
<h1 class="docs-title">{{ resources.docs.title | e }}</h1>
{%- if resources.docs.description_html %}
<p class="description">{{ resources.docs.description_html }}</p>
{%- endif %}
</header>
{%- endblock body_header -%}
{% block body_footer %}
<footer class="docs-footer">{{ resources.docs.footer_html }}</footer>
</main>
</body>
{% endblock body_footer %}
{% block input_group -%}
{%- if cell.metadata.get('docs_fold') -%}
<details class="code-fold"{% if cell.metadata.docs_fold == 'show' %} open{% endif %}>
<summary>{{ cell.metadata.get('docs_fold_summary', 'Code') | e }}</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock input_group %}
"""

SITE_CSS = """
body.docs-body { display: flex; margin: 0; padding: 0; min-height: 100vh; background: #fff; }
.docs-sidebar { flex: 0 0 15rem; box-sizing: border-box; padding: 1.5rem 1rem; border-right: 1px solid #e3e3e3;
  background: #f7f7f9; font-family: var(--jp-ui-font-family); font-size: 14px; position: sticky; top: 0;
  height: 100vh; overflow-y: auto; }
.docs-sidebar .docs-brand { display: block; font-weight: 600; font-size: 1.15rem; margin-bottom: 1rem; color: #222;
  text-decoration: none; }
.docs-sidebar ul { list-style: none; margin: 0; padding: 0; }
.docs-sidebar li { margin: 0.15rem 0; }
.docs-sidebar li.docs-section { margin-top: 0.8rem; font-weight: 600; color: #555; }
.docs-sidebar li.docs-section > ul { font-weight: normal; padding-left: 0.6rem; }
.docs-sidebar a { color: #2a5db0; text-decoration: none; display: block; padding: 0.2rem 0.4rem; border-radius: 4px; }
.docs-sidebar a:hover { background: #e8eef8; }
.docs-sidebar a[aria-current="page"] { background: #2a5db0; color: #fff; }
.docs-main { flex: 1 1 auto; min-width: 0; max-width: 60rem; padding: 1.5rem 2.5rem 3rem; box-sizing: border-box; }
.docs-header { margin: 0 0 1.5rem 0; padding-left: var(--jp-cell-padding, 5px); }
.docs-title { font-family: var(--jp-content-font-family); font-size: 2.2rem; margin: 0.5rem 0; }
.docs-header .description, div.description { font-style: italic; font-size: 1.2rem; opacity: 0.7; margin: 0; }
.docs-footer { margin-top: 3rem; padding-top: 1rem; border-top: 1px solid #e3e3e3; color: #777; font-size: 13px;
  font-family: var(--jp-ui-font-family); }
a.anchor-link { display: none; }
h1:hover > a.anchor-link, h2:hover > a.anchor-link, h3:hover > a.anchor-link, h4:hover > a.anchor-link {
  display: inline; margin-left: 0.3em; text-decoration: none; opacity: 0.5; }
.jp-InputArea { overflow: hidden; }
.jp-InputArea-editor { overflow: hidden; }
.cm-editor.cm-s-jupyter .highlight pre { padding: var(--jp-code-padding) 4px; margin: 0; font-family: inherit;
  font-size: inherit; line-height: inherit; color: inherit; }
.jp-OutputArea-output pre { line-height: inherit; font-family: inherit; }
.jp-RenderedText pre { color: var(--jp-content-font-color1); font-size: var(--jp-code-font-size); }
.jp-Collapser { display: none; }
.jp-Cell.celltag_showdoc .jp-RenderedMarkdown hr { margin: 1.5rem 0 0.5rem; }
.jp-Cell.celltag_showdoc .jp-RenderedMarkdown h3, .jp-Cell.celltag_showdoc .jp-RenderedMarkdown h4 { font-family: var(--jp-code-font-family); }
.jp-Cell.celltag_showdoc table { margin: 0.5rem 0; }
details.code-fold > summary { cursor: pointer; color: #555; font-size: 13px; padding: 0.2rem 0; font-family: var(--jp-ui-font-family); }
.callout-note, .callout-tip, .callout-warning, .callout-important, .callout-caution, .callout {
  border-left: 4px solid #2a5db0; background: #f3f6fb; padding: 0.3rem 1rem; margin: 1rem 0; }
.callout-warning, .callout-caution, .callout-important { border-left-color: #d9822b; background: #fdf6ec; }
@media (max-width: 800px) { body.docs-body { display: block; } .docs-sidebar { position: static; height: auto; }
  .docs-main { padding: 1rem; } }
"""

IMAGE_EXTS = {'.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp'}

def _slug(text: str) -> str:
    "Pandoc's (so Quarto's) heading identifiers, which nbdev's doc links point at."
    s = re.sub(r'[^\w\s.-]', '', text.strip().lower())
    s = re.sub(r'\s+', '-', s)
    return re.sub(r'^[^a-z_]+', '', s) or 'section'

def _inline_md(text: str) -> str:
    "A one-paragraph Markdown string (the page description) as inline HTML."
    from nbconvert.filters.markdown_mistune import markdown2html_mistune
    html = markdown2html_mistune(str(text)).strip() if text else ''
    return re.sub(r'^<p>(.*)</p>$', r'\1', html, flags=re.S)

def _nav_html(entries, current: str, site_title: str) -> str:
    "Sidebar <ul> in sidebar.yml order: entries are (section, href, title)."
    from html import escape
    out = [f'<a class="docs-brand" href="index.html">{escape(site_title)}</a>', '<ul>']
    open_section = None
    for section, href, title in entries:
        if section != open_section:
            if open_section is not None: out.append('</ul></li>')
            if section is not None: out.append(f'<li class="docs-section">{escape(section)}<ul>')
            open_section = section
        cur = ' aria-current="page"' if href == current else ''
        out.append(f'<li><a href="{href}"{cur}>{escape(title)}</a></li>')
    if open_section is not None: out.append('</ul></li>')
    out.append('</ul>')
    return '\n'.join(out)

def _postprocess(html: str, page_of: dict, doc_url: str) -> str:
    "Quarto-style heading ids; links to the published docs or to notebooks -> pages of this site."
    from bs4 import BeautifulSoup
    soup = BeautifulSoup(html, 'html.parser')
    seen = set()
    for h in soup.find_all(re.compile(r'^h[1-6]$')):
        if not h.get('id'): continue
        text = ''.join(t for t in h.find_all(string=True) if not (t.parent.name == 'a' and 'anchor-link' in (t.parent.get('class') or [])))
        new, n = _slug(text), 1
        while new in seen: new, n = f"{_slug(text)}-{n}", n + 1
        seen.add(new)
        h['id'] = new
        a = h.find('a', class_='anchor-link')
        if a is not None: a['href'] = '#' + new
    for a in soup.find_all('a', href=True):
        href = a['href']
        if doc_url and href.startswith(doc_url): href = href[len(doc_url):] or 'index.html'
        base, sep, frag = href.partition('#')
        if base in page_of: base = page_of[base]
        elif base.endswith('.ipynb') and Path(base).name in page_of: base = page_of[Path(base).name]
        a['href'] = base + sep + frag
    return str(soup)

def build_site(dest: Path | None = None, force: bool = False, mathjax_url: str = '') -> Path:
    "Build the HTML site into `dest` (default: the configured doc_path, `_docs/`). Returns `dest`."
    import nbformat, jinja2
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    from nbdev.config import nbpath2html
    cfg = _cfg()
    dest = Path(dest or cfg.doc_path).absolute()
    for msg in title_cell_problems(cfg.nbs_path) + mixed_import_cells(cfg.nbs_path):
        print(f"docs: warning: {msg}", file=sys.stderr)
    cache = proc_nbs(force=force)
    pages = []  # (section, rel nb path, processed nb, front matter, html name, title)
    for section, rel in sidebar_pages(cfg):
        src = cache/rel
        if Path(rel).suffix != '.ipynb':
            print(f"docs: skipping {rel}: only notebooks are rendered without Quarto", file=sys.stderr); continue
        if not src.exists(): raise DocsError(f"{src}: nbdev did not produce this processed notebook")
        nb, front = _prepare(nbformat.read(src, as_version=4), _md_for_html)
        out = (Path(rel).parent/front['output-file']).as_posix() if front.get('output-file') else nbpath2html(Path(rel)).as_posix()
        pages.append((section, rel, nb, front, out, _title(nb, front, Path(rel).stem)))
    if not pages: raise DocsError(f"no notebooks listed in {cfg.nbs_path/'sidebar.yml'}")
    page_of = {}
    for _, rel, _, _, out, _ in pages: page_of[rel] = page_of[Path(rel).name] = out
    entries = [(s, out, title) for s, _, _, _, out, title in pages]

    tmp = dest.with_name(dest.name + '.tmp')
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp/'_static').mkdir(parents=True)
    lab = next(p for p in map(Path, HTMLExporter(template_name='lab').template_paths) if (p/'static'/'index.css').exists())
    (tmp/'_static'/'lab.css').write_text((lab/'static'/'index.css').read_text() + '\n' + (lab/'static'/'theme-light.css').read_text())
    (tmp/'_static'/'site.css').write_text(SITE_CSS)
    styles = cfg.nbs_path/'styles.css'
    if styles.exists(): shutil.copy2(styles, tmp/'styles.css')
    (tmp/'.nojekyll').touch()
    for f in cfg.nbs_path.rglob('*'):  # images the notebooks' markdown links to, at the same relative paths
        rel = f.relative_to(cfg.nbs_path)
        if f.is_file() and f.suffix.lower() in IMAGE_EXTS and not any(p.startswith(('.', '_')) for p in rel.parts):
            (tmp/rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, tmp/rel)

    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {'remove_input'}
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    # plots are data URIs already; images that markdown cells link to are copied below. (`embed_images=True` would
    # break inline HTML such as show_doc's source link: nbconvert re-serialises each inline tag on its own.)
    c.HTMLExporter.embed_images = False
    exp = HTMLExporter(config=c, template_name='lab', template_file='docs.html.j2',
                       extra_loaders=[jinja2.DictLoader({'docs.html.j2': PAGE_TEMPLATE})])
    repo = cfg.get('git_url', '')
    footer = f'Built from the notebooks with nbdev and nbconvert. <a href="{repo}">Source</a>' if repo else \
             'Built from the notebooks with nbdev and nbconvert.'
    for section, rel, nb, front, out, title in pages:
        nb.metadata['title'] = title if out == 'index.html' else f"{title} – {cfg.get('title', cfg.lib_name)}"
        depth = len(Path(out).parts) - 1
        root = '../' * depth
        res = {'metadata': {'name': Path(rel).stem, 'path': str((cache/rel).parent)},
               'docs': {'root': root, 'title': title, 'description_html': _inline_md(front.get('description', '')),
                        'nav_html': _nav_html([(s, root + o, t) for s, o, t in entries], root + out,
                                              cfg.get('title', cfg.lib_name)),
                        'styles': styles.exists(), 'footer_html': footer, 'mathjax_url': mathjax_url}}
        try: html, _ = exp.from_notebook_node(nb, resources=res)
        except Exception as e: raise DocsError(f"nbconvert could not render {rel}: {_one_line(e)}") from None
        html = _postprocess(html, page_of, cfg.doc_url)
        (tmp/out).parent.mkdir(parents=True, exist_ok=True)
        (tmp/out).write_text(html)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest

def cmd_site(dest=None, force=False, mathjax_url='') -> int:
    import time
    t0 = time.time()
    out = build_site(dest, force=force, mathjax_url=mathjax_url)
    n = len(list(out.glob('*.html')))
    print(f"built {n} pages into {out} in {time.time() - t0:.0f} s; open {out/'index.html'} "
          f"or serve it: python -m http.server -d {out}")
    return 0

# ---------------------------------------------------------------------------------------------------------------
# Quarto

def cmd_quarto() -> int:
    if not shutil.which('quarto'):
        print("Quarto is not installed. With internet access install it with `nbdev-install-quarto` (Linux/macOS, uses sudo) "
              "or `pip install quarto-cli`, then run `nbdev-docs` (and `nbdev-readme`). "
              "Without Quarto: `python tools/docs.py site`.", file=sys.stderr)
        return 1
    os.chdir(ROOT)
    return subprocess.call(['nbdev-docs'])

# ---------------------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='tools/docs.py', description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('site', help='build the HTML docs site without Quarto')
    s.add_argument('--dest', type=Path, default=None, help='output folder (default: doc_path from pyproject, _docs/)')
    s.add_argument('--force', action='store_true', help='reprocess every notebook, ignoring the _proc/ cache')
    s.add_argument('--mathjax-url', default='', help='load MathJax from this URL (default: none, works offline)')
    r = sub.add_parser('readme', help='generate README.md from nbs/index.ipynb')
    r.add_argument('--check', action='store_true', help='do not write; exit 1 if README.md is stale')
    sub.add_parser('quarto', help='build the Quarto site with nbdev-docs (needs Quarto)')
    a = p.parse_args(argv)
    try:
        if a.cmd == 'site': return cmd_site(a.dest, a.force, a.mathjax_url)
        if a.cmd == 'readme': return cmd_readme(a.check)
        return cmd_quarto()
    except DocsError as e:
        print(f"docs: {e}", file=sys.stderr)
        return 1

if __name__ == '__main__':
    sys.exit(main())
