# Rules whose name and methods push the `|` column far right: their
# continuation lines start four columns in from the rule instead.
input key, tenant, region
a_rather_long_rule_name_for_reports: GET|POST|PUT|PATCH|DELETE /organisations/{organisationId}/members by key&region|tenant&region: 2300/15m, 4500/30m, 8800/1h, 105600/24h sliding
y: GET /a when tenant in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"): 1/1s
z: GET /a when tenant in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel") by key&region: 1/1s

# No key and no condition: the rates get a line of their own.
another_rather_long_rule_name_for_reports: OPTIONS|HEAD|GET|POST|PUT|PATCH|DELETE /organisations/{organisationId}/members/{memberId}/reports | /organisations/{organisationId}/members/{memberId}/reports/{reportId}: 2300/15m, 4500/30m, 8800/1h, 105600/24h sliding

# A condition longer than any line stays whole.
w: GET /a when tenant in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett") by key: 1/1s
