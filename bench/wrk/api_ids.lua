-- One request per load balancer id, in file order: PUT or DELETE, same for both servers.
-- BENCH_METHOD: PUT or DELETE; BENCH_IDS: a file of ids, one a line; BENCH_BODY: the PUT body.
-- A run that sends more requests than there are ids starts the list again (upstream's
-- noop provider leaves an LB in PENDING_*, so a second write to it answers 409 and is
-- counted among the errors: the bench seeds more ids than a run can use).
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  if #line > 0 then ids[#ids + 1] = line end
end
local method = os.getenv("BENCH_METHOD") or "PUT"
local body = os.getenv("BENCH_BODY")
local prefix = os.getenv("BENCH_PREFIX") or "/v2/lbaas/loadbalancers/"
local next_index = 0

request = function()
  next_index = next_index + 1
  local id = ids[((next_index - 1) % #ids) + 1]
  local headers = {["Content-Type"] = "application/json"}
  if method == "PUT" then
    return wrk.format("PUT", prefix .. id, headers, body)
  end
  return wrk.format(method, prefix .. id, headers)
end
