# A keyword cannot name a rule, nor anything else that has a name.
policy p
input key, region
bucket: ANY /** by key: 10/1s
when region == "eu" {
  fixed: GET /reports by key: 5/1m
}
counter block = POST /x by key per 1h
