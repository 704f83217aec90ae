input key
POST /tokens by key 200/10s
GET /tokens by key: 100/
DELETE /x: 5/1s
