# Basiq platform access limits (vendor doc: basiq.md, "API Rate Limiting").
#
# Attributes:
#   app  the partner's application (every published limit is a partner limit)
#   env  "sandbox" or "production"
#
# Not encoded: the doc's "generic limits that apply platform wide" (and the
# 403s they may produce) are unpublished, so there is nothing to write down.
# Rejections use the default status 429; the doc documents no body or
# headers for them.

policy basiq
input app, env

default sliding

# Authentication / Generate an auth token: "1,500 requests per 5 minute
# period". The doc does not say whether the period is aligned or rolling; we
# read it as rolling (sliding): never more than 1,500 in ANY 5 minutes, which
# also keeps every aligned 5-minute period within 1,500.
token: POST /token by app: 1_500/5m sliding

# Enrich: "Sandbox users can run 100 requests per month." Sandbox only, per
# application, per UTC calendar month. Production Enrich has no published
# limit, so the rule does not apply there (nor when env is absent).
enrich_sandbox: GET /enrich when env == "sandbox" by app: 100/1mo fixed

# Affordability / Income / Expenses: "The lesser of the number of users
# created per day or 1,000 total per day (including affordability, income
# and expenses summaries)". The three summaries share ONE daily pool; "per
# day" is a UTC day (fixed 1d windows, aligned to the epoch, as is the
# counter). The users counted are those created by the same application
# that day (POST /users admitted for that app).
counter users_created = POST /users by app per 1d

summaries: POST /users/{userId}/affordability
              | /users/{userId}/income
              | /users/{userId}/expenses
              by app: min(users_created, 1_000)/1d fixed

# Reports / Create a report: "The lesser of the number of users created per
# day or 1,000 total per day." Same cap, but its own pool (its own row, with
# no "including ..." clause).
reports: POST /reports by app: min(users_created, 1_000)/1d fixed
