# Mangopay API rate limiting (vendor doc: mangopay.md, "API Rate limiting").
#
# Attribute:
#   client  the API client id
#
# "All endpoints are affected", in production and sandbox alike (each
# environment has its own client ids, so no environment attribute is needed).

policy mangopay
input client

# Headers: "For any API call, you'll see ... how many calls you have made
# (X-RateLimit), how many you have left (X-RateLimit-Remaining), the time
# until these will be reset (X-RateLimit-Reset) in timestamp format ...
# several values will be given, separated by a comma - these correspond to
# each rate limit bucket". So: on every response (`on any`), one value per
# window of the rule, in the table's order (15 min, 30 min, 1 h, 24 h).
headers mangopay_headers {
  "X-RateLimit" = "${used*}"
  "X-RateLimit-Remaining" = "${remaining*}"
  "X-RateLimit-Reset" = "${reset*}"
}

# The 429 body, exactly as documented. The doc shows `*` for Id and Date:
#   Id   - Mangopay's error Id is an opaque string identifying the error
#          occurrence; rl has no request id, so we fill it with
#          "<rule id>-<unix seconds>", a string that names the limit and
#          the moment (e.g. "client_calls-1700006500").
#   Date - Mangopay dates are Unix timestamps (numbers), so ${now}, unquoted.
response mangopay_429 {
  status 429
  headers mangopay_headers
  body `{
    "Message": "Rate limit exceeded. Please contact support for more assistance",
    "Type": "rate_limit",
    "Id": "${rule}-${now}",
    "Date": ${now},
    "errors": null
  }`
}

default respond mangopay_429

# The table: 2300 / 15 mins, 4500 / 30 mins, 8800 / 1 hr, 105600 / 24 hrs,
# all enforced at once on the same client. The text says "there are
# currently three" buckets, but the table lists four; we encode all four
# (the table is the normative part, and a fourth limit that exists but is
# not enforced would be worse than one too many). "The bucket allowance is
# sliding per time window, as opposed to being reset at specific intervals
# in the hour": sliding windows, not fixed ones. (The doc calls it a "leaky
# bucket", but describes windowed allowances: "if you do 10 calls, you need
# to wait just 15 minutes to liberate those 10 calls"; rl's `bucket` would
# instead refill continuously, so `sliding` is the faithful reading.)
client_calls: ANY /** by client: 2_300/15m, 4_500/30m, 8_800/1h, 105_600/24h sliding
