-- wrk_urls.lua - cycle wrk through a list of URLs on one server.
--
--   wrk -t2 -c64 -d5s -s wrk_urls.lua http://127.0.0.1:PORT/ -- URLS.txt
--
-- URLS.txt holds one absolute http URL a line (the site's expected.txt);
-- every request goes to the address wrk was given, with the URL's host[:port]
-- as its Host header and its path and query as the target, so one nginx
-- serves every virtual host.  Accept-Encoding: gzip, as the crawlers send it.
-- Each thread starts at a different place in the list.

local reqs = {}
local n = 0
local i = 0
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter)
end

function init(args)
  local path = args[1]
  if not path then
    error("wrk_urls.lua: give the URL list after --")
  end
  local f = assert(io.open(path, "r"))
  for line in f:lines() do
    local host, target = line:match("^https?://([^/]+)(/.*)$")
    if host then
      n = n + 1
      reqs[n] = wrk.format("GET", target, { ["Host"] = host, ["Accept-Encoding"] = "gzip" })
    end
  end
  f:close()
  if n == 0 then
    error("wrk_urls.lua: no URLs in " .. path)
  end
  i = math.floor(n * ((offset or 1) - 1) / 8) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end
