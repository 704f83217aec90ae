input key
POST /tokens by key: 99999999999999999999999/10s
GET /tokens by key: 20000000/1h sliding
