input key
ANY /** when key =~ "(_prod_|_test_" by key: 100/1m
