input key
response slow { status 429 headers hdrs }
POST /tokens by key: 10/1s respond slwo
