# An option written with a `:` on its own line names no rule.
input key
GET /x by key: 1/1s
  burst: 5
