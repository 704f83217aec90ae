input app, env
counter users_created = POST /users when env == "sandbox" and env == "production" by app per 1d
POST /reports by app: min(users_created, 1_000)/1d fixed
