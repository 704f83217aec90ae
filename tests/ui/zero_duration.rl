input key
POST /tokens by key: 10/0s
