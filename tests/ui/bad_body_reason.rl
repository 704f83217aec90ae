input key
response r {
  status 429
  body `{"error": ${reason}, "retry_after": ${retry_after}}`
}
response quoted {
  status 429
  body `{"error": "${reason}", "rule": "${rule}", "limits": [${limit*}]}`
}
default respond quoted
POST /tokens by key: 10/1s respond r
POST /other by key: 10/1s
