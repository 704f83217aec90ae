# A keyword as the last word of a comment that ends the file (no final
# newline) is not code: the generic message, not rl::keyword_as_name.
input key
input tenant,
# keyed by default