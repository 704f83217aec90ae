input key
POST /tokens by key: 200/10sec
GET /tokens by key: 100/5w
