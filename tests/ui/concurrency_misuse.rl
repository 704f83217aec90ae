input user
ANY /** by user: 100 concurrent block 10s
