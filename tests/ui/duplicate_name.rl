input key, key
response slow { status 429 }
response slow { status 503 }
POST /tokens by key: 10/1s respond slow
