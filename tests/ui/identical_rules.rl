input key
tokens:       POST /tokens by key: 10/1s
tokens_again: POST /tokens by key: 10/1s status 503
