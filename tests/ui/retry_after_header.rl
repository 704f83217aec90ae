input key
headers slow_headers {
  "Retry-After" = "${reset_after}" on reject
}
response slow_down {
  headers slow_headers
}
default respond slow_down
POST /tokens by key: 10/1s
