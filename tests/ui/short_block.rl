input key, ip
POST /tokens by key&ip: 50/1m block 10s
