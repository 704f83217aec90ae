input key
GET /x by key: 100/1m sliding burst 10
