# Finch rate limits (vendor doc: finch.md, "Rate Limits").
#
# Attributes:
#   client_id  the Finch application ("A Finch application corresponds to a
#              unique client_id"); application limits count all access
#              tokens of the application together.
#   ip         the client IP address.
#
# Access-token limits are gone ("no longer the case as of August 2023"), so
# nothing is keyed on the access token.

policy finch
input client_id, ip

# The two documented 429 bodies. The doc's JSON has a typo, `"code”: 429`
# with a curly closing quote, which is not valid JSON; we write it as
# `"code": 429`. The doc's comment above the IP body also says "application
# rate limit exceeded"; the finch_code (finch_api_ip_rl) is what tells the
# two apart, and we keep every field as documented. No headers are
# documented.
response finch_application_429 {
  status 429
  body `{
    "statusCode": 429,
    "status": 429,
    "code": 429,
    "message": "Too many requests for token",
    "name": "rate_limit_exceeded_error",
    "finch_code": "finch_application_rl"
  }`
}

response finch_ip_429 {
  status 429
  body `{
    "statusCode": 429,
    "status": 429,
    "code": 429,
    "message": "Too many requests for token",
    "name": "rate_limit_exceeded_error",
    "finch_code": "finch_api_ip_rl"
  }`
}

# Application Rate Limits: per client_id, one pool per `product` ("each
# distinct endpoint"; an endpoint's /{id} form is the same product), "summed
# on a rolling 60-second basis ... a Sliding or Rolling Window rate limit",
# "Max requests initiated per minute" from the table.
#
# Ambiguity: the doc also says "After the product's rate limit is reset after
# 60 seconds, the first request to that product starts the 60-second TTL
# again", i.e. a window that starts at the first request. rl has no such
# window (fixed windows are epoch-aligned); we follow the doc's explicit
# "Sliding or Rolling Window" wording, which never admits more than N in any
# 60 s, so it is never looser than the TTL reading.
default respond finch_application_429

app_company:            GET /employer/company        by client_id: 20/1m sliding
app_directory:          GET /employer/directory      by client_id: 20/1m sliding
app_documents:          GET /employer/documents | /employer/documents/{id}
                          by client_id: 20/1m sliding
app_individual:         POST /employer/individual    by client_id: 20/1m sliding
app_employment:         POST /employer/employment    by client_id: 20/1m sliding
app_pay_statement_item: GET /employer/pay-statement-item | /employer/pay-statement-item/{id}
                          by client_id: 20/1m sliding
app_payment:            GET /employer/payment        by client_id: 12/1m sliding
app_pay_groups:         GET /employer/pay-groups | /employer/pay-groups/{id}
                          by client_id: 12/1m sliding
app_pay_statement:      POST /employer/pay-statement by client_id: 12/1m sliding

# IP Address Rate Limits: type API, 1000 max requests, duration 5 minutes,
# penalty 60 minutes; "No more requests are allowed once the penalty is
# enforced. Once the penalty duration is complete, requests will be accepted
# again." Every request from the IP counts, whatever the endpoint.
#
# Window: "If the number of max requests are sent from the same IP Address
# within the duration time set" = 1000 within any 5 minutes, a rolling
# window, hence `sliding` (a fixed window would let up to 2000 through across
# an aligned boundary). Reading of "max requests": 1000 requests are allowed;
# the 1001st within the window is the one that exceeds, is rejected, and
# starts the 60-minute penalty (`block 60m`).
ip_api: ANY /** by ip: 1_000/5m sliding block 60m respond finch_ip_429
