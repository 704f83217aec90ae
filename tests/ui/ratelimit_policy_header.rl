input key
headers ietf {
  "RateLimit-Policy" = "\"burst\";q=100;w=60"
}
response slow_down {
  headers ietf
}
default respond slow_down
POST /tokens by key: 10/1s
