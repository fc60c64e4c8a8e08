-- wrk: POST /api/accounts/login/ as the benchmark user.
wrk.method = "POST"
wrk.body = '{"username":"bench","password":"Sup3r-Secret!x"}'
wrk.headers["Content-Type"] = "application/json"
