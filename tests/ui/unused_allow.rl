input key
# rlc: allow(short_block): there is no block on this rule
POST /tokens by key: 10/1s
