input app
counter users_created = POST /users by app per 1d
POST /reports by app: min(user_created, 1000)/1d fixed
