input key
tokens: POST /tokens by key: 10/1s
tokens: GET /tokens by key: 10/1s
