input key, ip, tenant
headers slow_headers {
  "Retry-After" = "${retry_after}" on reject
}
response slow_down {
  status 429
  headers slow_headers
}
counter users = POST /users by key per 1d
POST /tokens by key&ip: 10/1s
