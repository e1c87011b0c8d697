#!/usr/bin/env python
"""Print the shape of the exported code: functions per exported cell, lines per exported cell, the longest cells, and
notebooks that import from a later one (each notebook may use only the ones before it, and, in its tests only, the
test fixtures of `defect_qc.fixtures`, as fastai's notebooks use `fastai.test_utils`). Also the two notebook checks
nbdev lacks (the docs build warns about them too): a title cell holding more than the title, and a cell mixing imports
with other code.

    python tools/cell_stats.py [nbs_dir] [--max-lines 40] [--median 12]   # exit 1 when a target is missed

A "function" is a top-level `def`/`class` (a `@patch`ed method counts as one); lines are the cell's source lines
without the `#| export` directives.

Then the rhythm and the house, as fastcore's notebooks are measured: the share of exported cells followed directly (the
next cell) by a code cell of their own example or test, the longest run of exported cells with no example or test
between them (markdown does not break a run), the share of test lines that chain statements with `;`, the package
modules over 400 lines, and the package modules that `train` imports (at the top, and inside functions).
"""
import argparse, ast, io, json, re, statistics, sys, tokenize
from pathlib import Path

TEST_UTILS = 'fixtures'   # the module every notebook's tests may use; exported code never may

def is_exported(c) -> bool: return any(l.replace(' ', '') in ('#|export', '#|exports') for l in src(c).splitlines())

def src(c) -> str: return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

def split_directives(source: str) -> tuple[dict, str]:
    "Leading `#| key: value` lines of a code cell as a dict, and the source without them."
    dirs, lines = {}, source.splitlines(True)
    while lines:
        m = re.match(r'^\s*#\s*\|\s*([^\s:]+)\s*:?\s?(.*?)\s*$', lines[0])
        if m: dirs[m.group(1)] = m.group(2).strip().strip('"\'')
        elif lines[0].strip(): break
        lines.pop(0)
    return dirs, ''.join(lines)

def cells_of(f: Path) -> list: return json.loads(Path(f).read_text())['cells']

def title_cell_problems(nbs: Path) -> list[str]:
    "Notebooks whose title cell holds more than `# title`/`> description`: nbdev (Quarto too) drops that whole cell."
    res = []
    for f in sorted(Path(nbs).glob('*.ipynb')):
        title = next((src(c) for c in cells_of(f) if c['cell_type'] == 'markdown' and re.search(r'^#\s+\S', src(c), re.M)), '')
        extra = [l for l in title.splitlines() if l.strip() and not re.match(r'^(#\s+\S|>\s)', l)]
        if extra: res.append(f"{f.name}: its title cell also holds {len(extra)} other line(s) (from {extra[0][:40]!r}); nbdev "
                             "turns that cell into the page title/description and drops the rest: move them to a new markdown cell")
    return res

def mixed_import_cells(nbs: Path) -> list[str]:
    "Code cells mixing imports with other code: nbdev runs every cell holding an import to build the docs (show_doc)."
    imp, scope = (ast.Import, ast.ImportFrom), (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    def imports(node):  # an import outside function and class bodies
        return isinstance(node, imp) or not isinstance(node, scope) and any(map(imports, ast.iter_child_nodes(node)))
    res = []
    for f in sorted(Path(nbs).glob('*.ipynb')):
        for i, c in enumerate(cells_of(f)):
            dirs, code = split_directives(src(c))
            if c['cell_type'] != 'code' or dirs.keys() & {'export', 'exports', 'exporti', 'exec_doc'}: continue
            code = '\n'.join(l for l in code.splitlines() if not l.lstrip().startswith(('%', '!')))
            try: tree = ast.parse(code)
            except SyntaxError: continue
            if str(dirs.get('eval')).lower() != 'false' and imports(tree) and not all(isinstance(n, imp) for n in tree.body):
                res.append(f"{f.name} cell {i} mixes imports with other code ({code.strip().splitlines()[0][:50]!r}); nbdev "
                           "runs such cells when it builds the docs: put the imports in a cell of their own")
    return res

def exported_cells(nbs: Path):
    "Yield (notebook name, cell source without directives) for every `#| export`/`#| exports` cell in `nbs`."
    for nb in sorted(nbs.glob('*.ipynb')):
        for c in cells_of(nb):
            if c['cell_type'] == 'code' and is_exported(c):
                yield nb.name, '\n'.join(l for l in src(c).splitlines() if not l.lstrip().startswith('#|')).strip('\n')

def n_functions(src: str) -> int:
    "Number of top-level functions and classes in `src`."
    return sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in ast.parse(src).body)

def cell_stats(nbs: Path) -> dict:
    "Measures of the exported cells in `nbs`."
    cells = [(name, src, len(src.splitlines()), n_functions(src)) for name, src in exported_cells(nbs)]
    with_fn = [c for c in cells if c[3]]
    lines = sorted(c[2] for c in cells)
    return dict(cells=len(cells), fn_per_cell=sum(c[3] for c in with_fn) / max(1, len(with_fn)),
                one_fn=sum(c[3] == 1 for c in with_fn) / max(1, len(with_fn)), median=statistics.median(lines),
                p90=lines[int(0.9 * (len(lines) - 1))], longest=sorted(cells, key=lambda c: -c[2])[:5])

def imported(cells) -> set:
    "Names of the `defect_qc` modules that `cells` import."
    code = '\n'.join(map(src, cells))
    return {a or b or c for a, b, c in re.findall(r'from defect_qc\.(\w+) import|import defect_qc\.(\w+)|from defect_qc import (\w+)', code)}

def later_imports(nbs: Path) -> list:
    "`(notebook, later notebook)` for every `defect_qc` module a notebook imports that a later notebook exports (`TEST_UTILS`: in exported cells only)."
    nbs_ = sorted(nbs.glob('[0-9]*.ipynb'))
    cells = {p: cells_of(p) for p in nbs_}
    mod_of = {}
    for p, cs in cells.items():
        m = re.search(r'default_exp\s+(\S+)', '\n'.join(src(c) for c in cs if c['cell_type'] == 'code'))
        if m: mod_of[m.group(1)] = p
    out = []
    for i, (p, cs) in enumerate(cells.items()):
        used = imported([c for c in cs if c['cell_type'] == 'code']) - {TEST_UTILS} | imported(filter(is_exported, cs))
        out += [(p.name, mod_of[m].name) for m in sorted(used) if m in mod_of and nbs_.index(mod_of[m]) > i]
    return out

def is_example(c) -> bool:
    "A code cell that is neither exported nor imports only: an example or a test."
    if c['cell_type'] != 'code' or is_exported(c): return False
    code = split_directives(src(c))[1]
    try: tree = ast.parse('\n'.join(l for l in code.splitlines() if not l.lstrip().startswith(('%', '!'))))
    except SyntaxError: return True
    return bool(tree.body) and not all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body)

def chained(code: str) -> set:
    "Line numbers (1-based) of `code` holding a `;` that separates statements."
    try: return {t.start[0] for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type == tokenize.OP and t.string == ';'}
    except (tokenize.TokenError, SyntaxError, IndentationError): return set()

def defined(code: str) -> set:
    "Top-level names a cell defines: functions, classes (a `@patch`ed method by its name) and assigned names."
    try: body = ast.parse(code).body
    except SyntaxError: return set()
    out = {n.name for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return out | {t.id for n in body if isinstance(n, (ast.Assign, ast.AnnAssign)) for t in getattr(n, 'targets', [getattr(n, 'target', None)]) if isinstance(t, ast.Name)}

def own_example(exp, nxt) -> bool:
    "Is cell `nxt` an example or test that uses something cell `exp` defines?"
    if not is_example(nxt): return False
    names = defined(split_directives(src(exp))[1])
    return not names or any(re.search(rf'\b{re.escape(n)}\b', src(nxt)) for n in names)

def rhythm(nbs: Path) -> dict:
    "Exported cells directly followed by an example or test, the longest run without one, and `;`-chained test lines."
    n_exp = followed = longest = 0; where = ''; n_lines = n_chained = 0
    for f in sorted(Path(nbs).glob('[0-9]*.ipynb')):
        cs, run = cells_of(f), 0
        for i, c in enumerate(cs):
            if c['cell_type'] == 'code' and is_exported(c):
                n_exp += 1; followed += i + 1 < len(cs) and own_example(c, cs[i+1]); run += 1
                if run > longest: longest, where = run, f.name
            elif is_example(c):
                run = 0; code = split_directives(src(c))[1]
                n_lines += sum(bool(l.strip()) and not l.lstrip().startswith('#') for l in code.splitlines()); n_chained += len(chained(code))
    return dict(followed=followed / max(1, n_exp), n_exported=n_exp, longest=longest, longest_in=where,
                chained=n_chained / max(1, n_lines))

def house(pkg: Path) -> dict:
    "Package modules over 400 lines, and the package modules `train` imports (at the top, inside functions)."
    big = sorted(((len(f.read_text().splitlines()), f.stem) for f in pkg.glob('*.py') if not f.stem.startswith('_')), reverse=True)
    tree, top, inner = ast.parse((pkg/'train.py').read_text()), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or '').startswith(pkg.name)):
            mods = [node.module.split('.')[-1]] if node.module and node.module != pkg.name else [a.name for a in node.names]
            (top if node in tree.body else inner).update(mods)
    return dict(big=[(n, m) for n, m in big if n > 400], top=top, inner=inner - top)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('nbs', nargs='?', default=Path(__file__).resolve().parents[1]/'nbs', type=Path)
    p.add_argument('--max-lines', type=int, default=40, help='no exported cell longer than this')
    p.add_argument('--median', type=float, default=12, help='median lines per exported cell at most this')
    a = p.parse_args()
    s = cell_stats(a.nbs)
    print(f"exported cells: {s['cells']}")
    print(f"functions per exported cell (cells defining any): {s['fn_per_cell']:.2f} ({s['one_fn']:.0%} hold one)")
    print(f"lines per exported cell, median / 90th pct: {s['median']:g} / {s['p90']}")
    for name, src, n, _ in s['longest']:
        first = next((l for l in src.splitlines() if l.startswith(('def ', 'class ', '@'))), src.splitlines()[0])
        print(f"  {n:4d} lines  {name}: {first[:70]}")
    r, h = rhythm(a.nbs), house(a.nbs.parent/'defect_qc')
    print(f"exported cells followed directly by their own example or test: {r['followed']:.0%} of {r['n_exported']}")
    print(f"longest run of exported cells without an example or test: {r['longest']} ({r['longest_in']})")
    print(f"test lines chained with ';': {r['chained']:.0%}")
    print(f"modules over 400 lines: {', '.join(f'{m} {n}' for n, m in h['big']) or 'none'}")
    print(f"package modules train imports: {len(h['top'] | h['inner'])} ({len(h['inner'])} only inside functions: {', '.join(sorted(h['inner']))})")
    later = later_imports(a.nbs)
    print(f"notebooks importing a later one: {', '.join(f'{x} -> {y}' for x, y in later) or 'none'}")
    problems = title_cell_problems(a.nbs) + mixed_import_cells(a.nbs)
    print(f"notebook problems: {len(problems)}", *problems, sep='\n  ')
    ok = s['median'] <= a.median and s['longest'][0][2] <= a.max_lines and not later and not problems
    print('targets met' if ok else f"targets missed: median <= {a.median:g}, none over {a.max_lines} lines, no later imports, no problems")
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())
