# A keyword and a `:` inside a response is no rule name (rules cannot be
# there): the generic message, not rl::keyword_as_name.
response slow {
  status: 429
}
