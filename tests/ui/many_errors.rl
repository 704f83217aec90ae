# Every error of a file is reported in one run.
policy many
input key, ip
PSOT /tokens by key&ipp: 0/10s
GET /tokens by key: 100/10sec
ANY /a/**/b by ip: 5/1mo sliding burst 3
