input key, tenant
when tenant == "test" {
  input ip
  POST /tokens by key: 10/1s
}
