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

-- An output's representations (text/html, image/png, text/plain...) -> the one pandoc would show for this format.
-- pandoc 2 chose before the filters ran; pandoc 3 chooses after them, by the `output` class that `div` renames. The
-- same ranking (pandoc's filterIpynbOutput) and the same removal of ANSI colour codes, so both give one result.
local function best_output(blocks)
  local function rank(b)
    if b.t == 'RawBlock' then
      local html = b.format == 'html' and FORMAT:match('^html') or b.format == FORMAT
      return (html or b.format == 'latex' and FORMAT:match('latex')) and 1 or 4
    end
    if b.t == 'Para' and #b.content == 1 and b.content[1].t == 'Image' then return 2 end
    return 3
  end
  local best
  for _, b in ipairs(blocks) do if not best or rank(b) < rank(best) then best = b end end
  if best and best.t == 'CodeBlock' then best.text = best.text:gsub('\27%[[^m]*m?', '') end
  return pandoc.List({best})
end

local function div(d)
  -- pandoc 3 (commonmark) makes the paragraph just before a closing `:::` Plain (no <p>); pandoc 2 made it Para
  for i, b in ipairs(d.content) do if b.t == 'Plain' then d.content[i] = pandoc.Para(b.content) end end
  if d.classes[1] == 'output' then d.content = best_output(d.content) end
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
