-- wrk: PATCH /api/accounts/profile/ with a new bio; TOKEN from the environment.
wrk.method = "PATCH"
wrk.body = '{"bio":"benchmarking the write path"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token " .. os.getenv("TOKEN")
