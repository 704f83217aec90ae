input key
headers h {
  "X-RateLimit-Limit" = "${limt}"
  "X-RateLimit-Used" = "${rule*}"
}
response r { headers h }
POST /tokens by key: 10/1s respond r
