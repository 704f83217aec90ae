input key
GET /users/{id}/items/{id} by key: 10/1s
