-- wrk: POST /api/accounts/register/ with a fresh username every time.
local prefix = "w" .. os.time() .. "_" .. math.random(1000000)
local n = 0
request = function()
	n = n + 1
	local name = prefix .. "_" .. n
	local body = '{"username":"' .. name .. '","email":"' .. name .. '@example.com",' ..
		'"password":"Sup3r-Secret!x","password2":"Sup3r-Secret!x"}'
	return wrk.format("POST", "/api/accounts/register/", { ["Content-Type"] = "application/json" }, body)
end
