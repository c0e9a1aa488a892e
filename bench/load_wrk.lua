-- bench/load.py's wrk script: a template that lua_script fills in with Python's string formatting (a literal percent sign is doubled).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } dp_timespec;
int clock_gettime(int clk_id, dp_timespec *tp);
]]
local ts = ffi.new("dp_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local kinds = {%(kinds)s}
local reqs = {
%(reqs)s
}
local n = #reqs
local threads, made = {}, 0

function setup(thread)
  made = made + 1
  thread:set("id", made)
  table.insert(threads, thread)
end

function init(args)
  i = ((id - 1) * %(stride)d) %% n
  -- flat tables only: wrk's thread:get crashes copying nested ones
  lk, lv, errs, sent, hits, shared = {}, {}, {}, {}, {}, {}
  for k = 1, #kinds do errs[k], sent[k], hits[k], shared[k] = 0, 0, 0, 0 end
  -- A thread drives several connections: each request carries its own X-Request-ID (the
  -- server returns it), which tells which request an answer belongs to and when it left.
  pending_kind, pending_t0, seq = {}, {}, 0
end

function request()
  i = i %% n + 1
  local r = reqs[i]
  seq = seq + 1
  local rid = "load-" .. id .. "-" .. seq
  pending_kind[rid], pending_t0[rid] = r[1], now_ms()
  sent[r[1]] = sent[r[1]] + 1
  local headers = {["X-Request-ID"] = rid}
  if r[4] then
    headers["Authorization"] = "Bearer dp_load" .. r[4] .. "_%(tail)s"
  end
  return wrk.format(r[2], r[3], headers)
end

function response(status, headers, body)
  local rid = headers["x-request-id"] or headers["X-Request-ID"]
  local kind = rid and pending_kind[rid]
  if not kind then return end  -- never: the server returns every sane request id
  local m = #lv + 1
  lk[m], lv[m] = kind, now_ms() - pending_t0[rid]
  pending_kind[rid], pending_t0[rid] = nil, nil
  if status >= 400 then errs[kind] = errs[kind] + 1 end
  local cached = headers["x-cache"] or headers["X-Cache"]
  if cached == "hit" or cached == "shared" or cached == "stale" then hits[kind] = hits[kind] + 1 end
  if cached == "shared" then shared[kind] = shared[kind] + 1 end
end

function done(summary, latency, requests)
  local out = io.open("%(out)s", "w")
  out:write(string.format("S %%f %%d %%d %%d %%d\n", summary.duration / 1e6,
    summary.errors.connect, summary.errors.read + summary.errors.write,
    summary.errors.timeout, summary.errors.status))
  for _, t in ipairs(threads) do
    local ks, vs, e, s, h = t:get("lk"), t:get("lv"), t:get("errs"), t:get("sent"), t:get("hits")
    local sh = t:get("shared")
    for k = 1, #kinds do
      out:write("K ", kinds[k], " ", s[k], " ", e[k], " ", h[k], " ", sh[k], "\n")
    end
    for m = 1, #vs do out:write("L ", kinds[ks[m]], string.format(" %%.3f\n", vs[m])) end
  end
  out:close()
end
