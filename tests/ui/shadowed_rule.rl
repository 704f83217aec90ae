# `tokens_search` counts a subset of what `token_writes` counts, on a finer
# key, with a higher limit over the same window: it never rejects first.
input key, ip
token_writes:  POST /tokens/** by key:       50/10s
tokens_search: POST /tokens/search by key&ip: 100/10s
