# A policy with no findings renders nothing.
policy clean
input key, ip
tokens: POST /tokens | /tokenize by key&ip: 200/10s throttle
