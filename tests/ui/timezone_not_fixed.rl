input k
ANY /** by k: 100/1d sliding timezone "Asia/Tokyo"
