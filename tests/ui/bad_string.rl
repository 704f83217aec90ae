input key
headers h {
  "X Rate Limit" = "${limit}"
  "X-Ok" = "a\nb"
}
