input proxy_key, ip
ANY /** when not proxy_key by proxy_key&ip: 50/10s
