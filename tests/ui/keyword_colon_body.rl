# A keyword and a `:` inside a response is no rule name: the generic message.
response slow {
  body: "x"
}
