input app, env
counter users_created = POST /users by app&env per 1d
POST /reports by app: min(users_created, 1000)/1d fixed
