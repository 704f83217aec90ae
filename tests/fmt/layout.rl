   # A comment before everything.


policy   layout   # the policy's name
input key,ip ,   tenant, proxy_key # after input
# Before a default.
default   sliding
headers h {   # after an opening brace
  "Retry-After"="${retry_after}"   on   reject # at the end of a header
  "X-RateLimit-Limit" = "${limit}"
  # before a closing brace
}   # after a closing brace
response slow_down { status 429 # after a status
  headers h
  body `{"error": "# not a comment", "limit": ${limit}}` }
default respond slow_down
counter keys_seen = POST /keys when tenant=="test" by key per 1d # a counter


when tenant == "test" or (proxy_key and not key) {
  # Inside a block.
  test_writes: POST /tokens|/tokenize when not (key and ip) or proxy_key by key&ip|ip : 10/1s, 100/1m  # at the end of a rule
  GET|POST /very/long/path/{id}/segment/another/segment/and/more | /another/very/long/path/**  by key: 5/1s
  search: POST /tokens/search # inside a rule
     | /tokens/find by key: 3/1s
}
reports: GET / by key : min(keys_seen, 10)/1d fixed


a:  GET /a by key&ip: 1/1s
bb: GET /bb by ip: 2/1s fixed block 10s
ccc: GET /ccc: 3/1s

d: GET /d by key: 4/1s   # a new run after a blank line
# The end.
