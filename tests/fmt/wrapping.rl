# Rules too long for one line, in a table with a name column.
input key, tenant, region
short: GET /a by key: 1/1s
pair: GET /employer/pay-statement-item | /employer/pay-statement-item/{id} by key: 20/1m sliding
list: POST /users/{userId}/affordability | /users/{userId}/income | /users/{userId}/expenses by key: 5/1d fixed
cond: PATCH|DELETE /organisations/{organisationId}/members/{memberId} when tenant == "test" by key&region: 9/1m
long_cond: GET /organisations/{organisationId}/members when tenant in ("alpha", "beta", "gamma", "delta", "epsilon") and region by key&region: 3/1s
no_key: GET /organisations/{organisationId}/members/{memberId} | /organisations/{organisationId}/owners: 1/1s
when tenant == "test" {
  GET /organisations/{organisationId}/members/{memberId}/permissions/{permissionId}/history by key: 2/1s
}
