input k
default timezone "Europe/Pariss"
ANY /** by k: 100/1d fixed timezone "Asia/Tokio"
