input key, ip, tenant
POST /tokens by key&ipp: 200/10s
GET /tokens when tenent == "test" by key: 100/10s
