input key
POST /tokens by key: 0/10s
