input key
POST /tokens by key: 10/1s fixed sliding
GET /tokens by key: 10/1s throttle block 10s
