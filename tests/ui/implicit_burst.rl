input key
POST /tokens by key: 6_000/1m bucket
