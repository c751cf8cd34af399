-- End-to-end test of `sluice lsp` in Neovim (0.7's built-in client and later):
--   SLUICE_BIN=/path/to/sluice SLUICE_PROJECT=/copy/of/examples/shop \
--     nvim --headless -u NONE -i NONE -c 'luafile tests/e2e/editors/neovim_lsp.lua'
-- Opens schemas.py, renames OrderSchema's `status` in the buffer (never saved),
-- waits for the error in models/orders_enriched.sql (which reads `o.status` and is
-- not open), fixes the buffer, waits for it to clear, stops the server and checks it
-- exited 0. Any failed step exits non-zero with a message on stderr.

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

  step("stopping the server")
  vim.lsp.stop_client(client_id)
  assert(vim.wait(TIMEOUT_MS, function() return exit_code ~= nil end, 50),
    "`sluice lsp` did not exit after shutdown")
  assert(exit_code == 0, "`sluice lsp` exited with " .. tostring(exit_code) .. ", not 0")
end

local ok, err = pcall(run)
if ok then
  finish(true, "the error appeared in the dependent SQL file and cleared; sluice lsp exited 0")
else
  finish(false, tostring(err))
end
