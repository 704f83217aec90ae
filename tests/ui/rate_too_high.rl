input key
POST /tokens by key: 2_000_000/1ms bucket
GET /tokens by key: 10/500ms sliding
