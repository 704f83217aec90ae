# `policy:` is not followed by methods and a path, so it names no rule.
policy: foo
