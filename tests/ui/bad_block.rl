input key
POST /tokens by key: 10/1s block 0s
