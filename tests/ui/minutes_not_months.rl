input key
GET /reports by key: 1_000/1d, 20_000/1m fixed
