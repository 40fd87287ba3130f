-- nst.cli.parse in the specs: the usage message of a refused command line, and a command
-- line of the two required images plus more flags.
--   local parse = require("helpers.parse")
--   parse.error(parse.with("-ema", "2"))  -> "-ema: ..."
local cli = require("nst.cli")
local assert = require("luassert")

local M = {}

M.required = {"-content_image", "c.jpg", "-style_image", "s.jpg"}

function M.error(args)
  local ok, err = pcall(cli.parse, args)
  assert.is_false(ok)
  assert.is_table(err, tostring(err))
  return err.usage
end

-- A copy of the list base with the other arguments after it.
function M.plus(base, ...)
  local a = {table.unpack(base)}
  for _, v in ipairs{...} do a[#a + 1] = v end
  return a
end

function M.with(...) return M.plus(M.required, ...) end

return M
