# Bindbee rate limits (vendor doc: bindbee.md, "Rate Limits").
#
# Attributes:
#   api_key    the API key. Declared because every request carries it, but
#              no limit is keyed on it: "Rate limits are applied per
#              connector token, not per API key."
#   connector  the X-Connector-Token (connector_token); absent on
#              organization-level endpoints.

policy bindbee
# rlc: allow(unused_declaration): api_key is declared on purpose, unused (see
# above); `rlc explain --request` then reads it without a note.
input api_key, connector

# "Bindbee includes rate limit information in the response headers of every
# API request": X-RateLimit-Limit / -Remaining / -Reset on 2xx and 429
# alike, Retry-After on the 429 only. X-RateLimit-Reset is "Unix timestamp
# (in seconds) when the rate limit will reset" on success and "when you can
# retry" on a 429, which is what ${reset} means in each case.
headers bindbee_headers {
  "X-RateLimit-Limit" = "${limit}"
  "X-RateLimit-Remaining" = "${remaining}"
  "X-RateLimit-Reset" = "${reset}"
  "Retry-After" = "${retry_after}" on reject
}

# The documented 429: status 429 Too Many Requests, the headers above, and
# this body (the 200 in the message is the limit).
response bindbee_429 {
  status 429
  headers bindbee_headers
  body `{"error": "Rate limit exceeded", "message": "You have exceeded the rate limit of ${limit} requests per minute"}`
}

default respond bindbee_429

# "200 requests per minute per connector", "across all endpoints", one
# counter per connector token ("each connector token has its own independent
# rate limit"). A request without a connector token (organization-level
# endpoints) is not limited: the doc publishes no limit for it.
#
# Window: "per minute ... until the rate limit window resets" reads as a
# fixed (aligned) minute. Penalty: rejected "until the rate limit window
# resets (60 seconds from when you first exceeded the limit)", and the 429
# example has Retry-After: 60 and X-RateLimit-Reset = now + 60. A fixed
# minute alone would free at the end of the current minute (< 60 s), so the
# "60 seconds from when you first exceeded" is a 60 s block started by the
# first rejected request (rejections during it do not extend it).
connector_limit: ANY /** by connector: 200/1m fixed block 60s
