input key
ANY /a/**/b by key: 10/1s
