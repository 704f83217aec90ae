# Basis Theory platform limits (vendor doc: basis-theory.md, "Platform Limits").
#
# Attributes:
#   key        the API key (absent on unauthenticated proxy requests)
#   ip         the client IP
#   tenant     "test" or "production"
#   app_type   "private", "public" or "management" (the key's application type)
#   proxy_key  present on (unauthenticated / whitelabel) proxy requests
#   host       present on requests to a custom hostname
#   legacy     "true" when the key carries the Legacy badge in the Portal
#              (looked up by the server, as app_type is)
#
# "Rate Limits will always apply to the lowest Rate available for a given
# request": every row that matches a request applies at once, which is how
# rl evaluates rules; e.g. POST /tokens on a Test Tenant is held to
# test_tenant's 50 / 10 s before tokens_create's 200 / 10 s.
#
# The doc never says whether its windows are rolling or aligned; we use
# sliding windows (never more than N in any interval of the window's length).
# "Throttle" is rl's `throttle` (reject while over the limit); "Ns Block" is
# `block Ns`. Error Codes: 429 "Request has been rate limited" is rl's
# default rejection status; no body or headers are documented.
#
# Not encoded (not request-rate limits): the Default Quotas table (Rate
# Limit "Default", log/CVC retention, and the Tokenize/Detokenize Limit of 5
# tokens, which bound a single request's batch size, not a request rate) and
# the Reactors table (code length, payload size, hot concurrency, timeout).

policy basis_theory
input key, ip, tenant, app_type, proxy_key, host, legacy

default sliding

# Tenant Type Rate Limits / Test Tenant: ANY ANY, "IP and API Key",
# 50 req / 10 s, Throttle.
test_tenant: ANY /** when tenant == "test" by key&ip: 50/10s throttle

# API Resource Rate Limits, all counted per "API Key AND IP", Throttle.
# Each row is its own pool; "POST /tokens OR /tokenize" is one shared pool.
tokens_search:   POST /tokens/search      by key&ip: 50/10s throttle
tokens_list:     GET /tokens              by key&ip: 100/10s throttle
tokens_create:   POST /tokens | /tokenize by key&ip: 200/10s throttle
tokens_update:   PATCH /tokens/{id}       by key&ip: 200/10s throttle
tokens_delete:   DELETE /tokens/{id}      by key&ip: 200/10s throttle
# The doc writes "ANY /account-updater/*"; we read the `*` as "anything under
# /account-updater/" (any depth, e.g. /account-updater/jobs/{id}), i.e. rl's
# `/account-updater/**`, not a single segment. Note `**` also matches
# /account-updater itself.
account_updater: ANY /account-updater/**  by key&ip: 10/10s throttle

# Application Type Rate Limits, one block per application type.
when app_type == "private" {
  # Private Application: ANY, "API Key OR IP": one counter per key and one
  # per IP, each 2000 req / 10 s, Throttle.
  private_app: ANY /** by key|ip: 2_000/10s throttle
}
when app_type == "public" {
  # Public Application: ANY, "IP and API Key", 50 req / 1 min, 10s Block.
  # rlc: allow(short_block): the doc's 10 s block is shorter than its 1 min
  # window, so a key still over 50 in the last minute when the block ends is
  # rejected again and blocked for another 10 s; the block only adds up to
  # 10 s after the window frees (tests/vendors/basis-theory/07). As written.
  public_app: ANY /** by key&ip: 50/1m block 10s
}
when app_type == "management" {
  # Management Application: ANY, "API Key", 200 req / 1 min, 60s Block.
  management_app: ANY /** by key: 200/1m block 60s
}

# Proxies / Unauthenticated / Whitelabel Proxies: two rows, two pools, both
# 50 req / 10 s, Throttle. A row applies only when its attributes are present
# (proxy_key on proxy requests, host on custom-hostname requests).
proxy_key_ip:  ANY /** by proxy_key&ip: 50/10s throttle
proxy_host_ip: ANY /** by host&ip:      50/10s throttle

# IPs / IP-Based Global Rate Limit: ANY, "IP", 2000 req / 10 s, 30s Block.
ip_global: ANY /** by ip: 2_000/10s block 30s

# Legacy Rate Limits / Legacy API Keys: "keys without _prod_ or _test_ in the
# key or are denoted by a Legacy badge on your API Key in an Application on
# the Portal", ANY ANY, "IP and API Key", 100 req / 1 m, Throttle. The badge
# is not in the request: the server passes it as `legacy`, as it passes the
# application's type.
legacy_key: ANY /** when key !~ "_prod_|_test_" or legacy == "true" by key&ip: 100/1m throttle
