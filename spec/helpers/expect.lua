-- Assertions shared by the specs.
local expect = {}

-- The message of a call that must fail (asserts that it fails).
function expect.error(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return tostring(err)
end

return expect
