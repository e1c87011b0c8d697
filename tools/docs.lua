-- Pandoc Lua filter for tools/docs.py: what Quarto adds to pandoc when it renders nbdev's notebooks.
-- Metadata: `docs-readme` (true for README.md) and `docs-links` (link target -> page of this site).
local readme, links = false, {}

local function read_meta(m)
  readme = m['docs-readme'] == true
  for k, v in pairs(m['docs-links'] or {}) do links[k] = pandoc.utils.stringify(v) end
end

-- Links to the published docs or to notebooks -> pages of this site (fragments kept); in the README, links lose
-- their attributes (show_doc's `{target="_blank" ...}`), which GitHub Markdown cannot hold
local function link(l)
  local path, frag = l.target:match('^([^#]*)(.*)$')
  if links[path] then l.target = links[path] .. frag end
  if readme then l.attr = pandoc.Attr() end
  return l
end

local function code(b)
  if b.text == '' then return {} end -- the source of an `echo: false` cell
  if readme then -- GitHub fences: ```python for code, a bare ``` for outputs
    local fence = '```'
    while b.text:find(fence, 1, true) do fence = fence .. '`' end
    return pandoc.RawBlock('gfm', fence .. (b.classes[1] or '') .. '\n' .. b.text:gsub('\n+$', '') .. '\n' .. fence)
  end
end

local function div(d)
  if readme then return d.content end -- no divs on GitHub: keep what cells, outputs and callouts hold
  if d.classes[1] == 'output' then -- Quarto's classes, which nbs/styles.css is written for
    local kind = d.classes[3] or (d.classes[2] == 'error' and 'error' or 'display') -- stream stdout/stderr
    return pandoc.Div(d.content, pandoc.Attr('', {'cell-output', 'cell-output-' .. kind}))
  end
  local fold = d.attributes['code-fold'] -- nbdev folds `#| exports` cells
  if fold and fold ~= 'false' and d.content[1] and d.content[1].t == 'CodeBlock' then
    local summary = (d.attributes['code-summary'] or 'Code'):gsub('&', '&amp;'):gsub('<', '&lt;')
    d.content:insert(1, pandoc.RawBlock('html', '<details class="code-fold"' .. (fold == 'show' and ' open' or '') ..
      '><summary>' .. summary .. '</summary>'))
    d.content:insert(3, pandoc.RawBlock('html', '</details>'))
  end
  d.attributes = {}
  return d
end

-- A pipe table with a long line gets column widths from its dashes (`|---|---:|`): let the browser size it
local function tbl(t)
  for i, c in ipairs(t.colspecs) do t.colspecs[i] = {c[1]} end
  return t
end

return {{Meta = read_meta}, {Link = link, CodeBlock = code, Div = div, Table = tbl}}
