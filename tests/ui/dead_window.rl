# A window that can never be the one that rejects: the shorter windows of the
# same rule already keep it under its limit.
input key
GET /reports by key: 100/1m, 10_000/1h fixed
PUT /reports by key: 100/1m, 10_000/1h bucket burst 50
