-- End-to-end test of `sluice lsp` in Neovim (0.7's built-in client and later):
--   SLUICE_BIN=/path/to/sluice SLUICE_PROJECT=/copy/of/examples/shop \
--     nvim --headless -u NONE -i NONE -c 'luafile tests/e2e/editors/neovim_lsp.lua'
-- Opens schemas.py, renames OrderSchema's `status` in the buffer (never saved),
-- waits for the error in models/orders_enriched.sql (which reads `o.status` and is
-- not open), fixes the buffer, waits for it to clear. Then navigates from the SQL
-- file (Neovim 0.7's `vim.lsp.buf_request_sync`): hover on `o.status` shows its type
-- and contract, definition jumps to `status: str` in schemas.py, rename to `state`
-- edits both files and, applied to the (unsaved) buffers, leaves no error. Finally
-- stops the server and checks it exited 0. Any failed step exits non-zero with a
-- message on stderr.

local TIMEOUT_MS = 60000

local function finish(ok, message)
  io.stderr:write((ok and "ok: " or "FAIL: ") .. message .. "\n")
  io.stderr:flush()
  vim.cmd(ok and "qall!" or "cquit! 1")
end

local function step(message)
  io.stderr:write("step: " .. message .. "\n")
end

local function run()
  local sluice = assert(os.getenv("SLUICE_BIN"), "SLUICE_BIN is not set")
  local root = assert(os.getenv("SLUICE_PROJECT"), "SLUICE_PROJECT is not set")
  local exit_code = nil
  local client_id = vim.lsp.start_client({
    name = "sluice",
    cmd = { sluice, "lsp" },
    root_dir = root,
    on_exit = function(code, _signal)
      exit_code = code
    end,
  })
  assert(client_id, "vim.lsp.start_client did not start `sluice lsp`")

  local schemas = root .. "/schemas.py"
  vim.cmd("edit " .. vim.fn.fnameescape(schemas))
  local buf = vim.api.nvim_get_current_buf()
  assert(vim.lsp.buf_attach_client(buf, client_id), "could not attach the client")

  -- The dependent file is not opened: its diagnostics arrive all the same.
  local sql_buf = vim.uri_to_bufnr(vim.uri_from_fname(root .. "/models/orders_enriched.sql"))
  local function errors()
    return vim.diagnostic.get(sql_buf, { severity = vim.diagnostic.severity.ERROR })
  end

  step("waiting for the initial analysis (no errors)")
  assert(vim.wait(TIMEOUT_MS, function()
    local client = vim.lsp.get_client_by_id(client_id)
    return client ~= nil and client.initialized
  end, 50), "the client never initialized")
  vim.wait(500, function() return false end, 50)
  assert(#errors() == 0, "orders_enriched.sql has errors before any edit")

  local row, col
  for i, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    local at = line:find("status: str", 1, true)
    if at then
      row, col = i - 1, at - 1
      break
    end
  end
  assert(row, "schemas.py has no `status: str`")

  step("renaming `status` to `state` in the unsaved buffer")
  vim.api.nvim_buf_set_text(buf, row, col, row, col + #"status", { "state" })
  assert(vim.wait(TIMEOUT_MS, function() return #errors() > 0 end, 50),
    "no error appeared in models/orders_enriched.sql after breaking `status`")
  local found = errors()[1]
  assert(found.message:find("status", 1, true),
    "the error does not name `status`: " .. found.message)
  step("error shown in orders_enriched.sql: " .. found.message:gsub("\n", " | "))

  local disk = table.concat(vim.fn.readfile(schemas), "\n")
  assert(disk:find("status: str", 1, true), "schemas.py was saved, but must not be")

  step("renaming it back")
  vim.api.nvim_buf_set_text(buf, row, col, row, col + #"state", { "status" })
  assert(vim.wait(TIMEOUT_MS, function() return #errors() == 0 end, 50),
    "the error in models/orders_enriched.sql did not clear after the fix")

  -- Navigation, from the SQL file.
  local sql_path = root .. "/models/orders_enriched.sql"
  vim.cmd("edit " .. vim.fn.fnameescape(sql_path))
  local sbuf = vim.api.nvim_get_current_buf()
  assert(vim.lsp.buf_attach_client(sbuf, client_id), "could not attach the SQL buffer")
  local srow, scol
  for i, line in ipairs(vim.api.nvim_buf_get_lines(sbuf, 0, -1, false)) do
    local at = line:find("o.status", 1, true)
    if at then
      srow, scol = i - 1, at - 1 + 2
      break
    end
  end
  assert(srow, "orders_enriched.sql has no `o.status`")
  local function request(b, method, params)
    local responses = vim.lsp.buf_request_sync(b, method, params, TIMEOUT_MS)
    assert(responses, method .. " got no answer")
    local r = responses[client_id]
    assert(r and not r.err, method .. " failed: " .. vim.inspect(r and r.err))
    return r.result
  end
  local pos = {
    textDocument = { uri = vim.uri_from_bufnr(sbuf) },
    position = { line = srow, character = scol + 1 },
  }

  step("hover on `o.status`")
  local hover = request(sbuf, "textDocument/hover", pos)
  local text = hover and hover.contents and hover.contents.value or ""
  assert(text:find("Utf8", 1, true) and text:find("OrderSchema", 1, true),
    "the hover does not give the type and contract: " .. vim.inspect(hover))

  step("definition of `o.status`")
  local defs = request(sbuf, "textDocument/definition", pos)
  assert(defs and #defs == 1, "expected one definition: " .. vim.inspect(defs))
  assert(vim.uri_to_fname(defs[1].uri) == schemas and defs[1].range.start.line == row
    and defs[1].range.start.character == col,
    "the definition is not `status: str` in schemas.py: " .. vim.inspect(defs))

  step("renaming `status` to `state` from the SQL file")
  local params = vim.deepcopy(pos)
  params.newName = "state"
  local edit = request(sbuf, "textDocument/rename", params)
  local files = {}
  for uri, _ in pairs(edit and edit.changes or {}) do
    files[#files + 1] = vim.fn.fnamemodify(vim.uri_to_fname(uri), ":t")
  end
  table.sort(files)
  assert(table.concat(files, ",") == "orders_enriched.sql,schemas.py",
    "the rename does not edit exactly schemas.py and orders_enriched.sql: " .. vim.inspect(edit))
  vim.lsp.util.apply_workspace_edit(edit, "utf-16")
  local schema_line = vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1]
  assert(schema_line:find("state: str", 1, true), "schemas.py not renamed: " .. schema_line)
  local sql_line = vim.api.nvim_buf_get_lines(sbuf, srow, srow + 1, false)[1]
  assert(sql_line:find("o.state", 1, true), "orders_enriched.sql not renamed: " .. sql_line)
  -- A consistent rename: once the server has analysed the edited buffers, no errors.
  local hovered = vim.wait(TIMEOUT_MS, function()
    local after = request(sbuf, "textDocument/hover", pos)
    return after and after.contents.value:find("`state`", 1, true) ~= nil
  end, 100)
  assert(hovered, "the server never saw the renamed buffers")
  vim.wait(1000, function() return false end, 50)
  local all = vim.diagnostic.get(nil, { severity = vim.diagnostic.severity.ERROR })
  assert(#all == 0, "errors after the rename: " .. vim.inspect(all))
  disk = table.concat(vim.fn.readfile(schemas), "\n")
  assert(disk:find("status: str", 1, true), "the rename saved schemas.py, but must not")

  step("stopping the server")
  vim.lsp.stop_client(client_id)
  assert(vim.wait(TIMEOUT_MS, function() return exit_code ~= nil end, 50),
    "`sluice lsp` did not exit after shutdown")
  assert(exit_code == 0, "`sluice lsp` exited with " .. tostring(exit_code) .. ", not 0")
end

local ok, err = pcall(run)
if ok then
  finish(true, "the error appeared in the dependent SQL file and cleared; hover, definition and rename worked; sluice lsp exited 0")
else
  finish(false, tostring(err))
end
