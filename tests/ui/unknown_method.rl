input key
PSOT /tokens by key: 200/10s
FETCH /tokens by key: 200/10s
