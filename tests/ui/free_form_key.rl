input key, ip, tenant
tokens:    POST /tokens by key&ip: 200/10s
search:    GET /search by key&ip:  100/10s
by_tenant: GET /reports by tenant: 10/1m
