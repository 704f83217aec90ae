input key
response r {
  status 429
  body `{"error": "slow down", "rule": ${rule}}`
}
POST /tokens by key: 10/1s respond r
