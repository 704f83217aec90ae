input key
POST /tokens by key: 10/1s status 999
