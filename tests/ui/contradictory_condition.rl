input tenant, key
when tenant == "b" {
  when tenant == "a" {
    POST /tokens by key: 10/1s
  }
}
