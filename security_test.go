package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the server's sense of time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)} }

const (
	logoutPath    = "/api/accounts/logout/"
	logoutAllPath = "/api/accounts/logout-all/"
	tokensPath    = "/api/accounts/tokens/"
	passwordPath  = "/api/accounts/password/"
)

func (a *app) login(username, password string) string {
	a.t.Helper()
	r := a.json("POST", loginPath, "", map[string]any{"username": username, "password": password})
	wantStatus(a.t, r, http.StatusOK)
	return r.obj(a.t)["token"].(string)
}

// works and refused check a token against the profile endpoint.
func (a *app) works(token string) {
	a.t.Helper()
	wantStatus(a.t, a.do("GET", profilePath, nil, authHeader(token)...), 200)
}

func (a *app) refused(token string) {
	a.t.Helper()
	wantBody(a.t, a.do("GET", profilePath, nil, authHeader(token)...), 401, `{"detail":"Invalid token."}`)
}

func TestLogout(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, first := a.register("alice")
	second := a.login("alice", goodPassword)
	a.works(second) // cached now
	r := a.do("POST", logoutPath, nil, authHeader(second)...)
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("logout: %s", r)
	}
	a.refused(second)
	a.works(first)
	third := a.login("alice", goodPassword)
	wantStatus(t, a.do("POST", logoutAllPath, nil, authHeader(third)...), 204)
	for _, tok := range []string{first, third} {
		a.refused(tok)
	}
	a.works(a.login("alice", goodPassword))
}

func TestTokensList(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, first := a.register("alice")
	r := a.do("POST", loginPath, strings.NewReader(`{"username":"alice","password":"`+goodPassword+`"}`),
		"Content-Type", "application/json", "User-Agent", "phone-app/2.1")
	second := r.obj(t)["token"].(string)
	r = a.do("GET", tokensPath, nil, authHeader(second)...)
	wantStatus(t, r, 200)
	for _, key := range []string{first, second} {
		if strings.Contains(string(r.body), key) {
			t.Fatalf("the list shows a key: %s", r.body)
		}
	}
	var list []map[string]any
	if err := jsonUnmarshal(r.body, &list); err != nil || len(list) != 2 {
		t.Fatalf("want two tokens: %s", r)
	}
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)
	newest, older := list[0], list[1]
	if newest["current"] != true || older["current"] != false || newest["user_agent"] != "phone-app/2.1" ||
		!stamp.MatchString(newest["created"].(string)) || !stamp.MatchString(newest["last_used"].(string)) || newest["expires"] != nil {
		t.Fatalf("list entries: %v", list)
	}
	// Deleting one's own other token revokes it; another user's is not found.
	_, bob := a.register("bob")
	wantBody(t, a.do("DELETE", fmt.Sprintf("%s%v/", tokensPath, older["id"]), nil, authHeader(bob)...), 404, `{"detail":"Not found."}`)
	a.works(first)
	wantBody(t, a.do("DELETE", tokensPath+"abc/", nil, authHeader(second)...), 404, `{"detail":"Not found."}`)
	r = a.do("DELETE", fmt.Sprintf("%s%v/", tokensPath, older["id"]), nil, authHeader(second)...)
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("delete: %s", r)
	}
	a.refused(first)
	a.works(second)
	a.works(bob)
}

func TestPasswordChange(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, first := a.register("alice")
	second := a.login("alice", goodPassword)
	const newPassword = "N3w-Secret!pass"
	body := func(old, new1, new2 string) map[string]any {
		return map[string]any{"old_password": old, "new_password": new1, "new_password2": new2}
	}
	for _, tc := range []struct {
		body any
		want string
	}{
		{map[string]any{}, `{"old_password":["This field is required."],"new_password":["This field is required."],"new_password2":["This field is required."]}`},
		{body("wrong-old-password", newPassword, newPassword), `{"old_password":["Your old password was entered incorrectly. Please enter it again."]}`},
		{body(goodPassword, "Ab1!", "Ab1!"), `{"new_password":["This password is too short. It must contain at least 8 characters."]}`},
		{body(goodPassword, "password", "password"), `{"new_password":["This password is too common."]}`},
		{body(goodPassword, "aliceXY1", "aliceXY1"), `{"new_password":["The password is too similar to the username."]}`},
		{body(goodPassword, newPassword, newPassword+"x"), `{"new_password2":["The two password fields didn’t match."]}`},
	} {
		wantBody(t, a.json("POST", passwordPath, second, tc.body), 400, tc.want)
	}
	a.works(first)
	a.works(second)
	r := a.json("POST", passwordPath, second, body(goodPassword, newPassword, newPassword))
	wantStatus(t, r, 200)
	fresh := r.obj(t)["token"].(string)
	if !isTokenKey(fresh) || fresh == first || fresh == second {
		t.Fatalf("want a new token: %s", r)
	}
	a.refused(first)
	a.refused(second)
	a.works(fresh)
	list := a.do("GET", tokensPath, nil, authHeader(fresh)...)
	if n := strings.Count(string(list.body), `"id"`); n != 1 {
		t.Fatalf("want exactly one live token, got %s", list.body)
	}
	wantStatus(t, a.json("POST", loginPath, "", map[string]any{"username": "alice", "password": goodPassword}), 400)
	a.works(a.login("alice", newPassword))
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	clock := newClock()
	a := newAppWith(t, func(c *config) { c.tokenTTL = time.Hour; c.now = clock.now })
	_, token := a.register("alice")
	lastUsed := func() string {
		var s string
		a.db.r.QueryRow("SELECT last_used FROM tokens").Scan(&s)
		return s
	}
	created := lastUsed()
	r := a.do("GET", tokensPath, nil, authHeader(token)...)
	if !strings.Contains(string(r.body), `"expires":"2026-11-30T13:00:00.000000Z"`) {
		t.Fatalf("expires not last use plus the lifetime: %s", r.body)
	}
	// Use within a minute is not written down; after it, it is.
	clock.advance(30 * time.Second)
	a.works(token)
	if lastUsed() != created {
		t.Fatal("last_used written within a minute of the last write")
	}
	// Sliding: used every 50 minutes, it outlives its lifetime many times.
	for range 5 {
		clock.advance(50 * time.Minute)
		a.works(token)
	}
	if lastUsed() == created {
		t.Fatal("last_used never refreshed")
	}
	clock.advance(61 * time.Minute)
	a.refused(token)
	var n int
	a.db.r.QueryRow("SELECT count(*) FROM tokens").Scan(&n)
	if n != 0 {
		t.Fatal("an expired token was not deleted")
	}
	a.works(a.login("alice", goodPassword))
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	clock := newClock()
	a := newAppWith(t, func(c *config) { c.now = clock.now })
	a.register("alice")
	a.register("bob")
	// Successes never count.
	for range 15 {
		a.login("alice", goodPassword)
	}
	for i := range 10 {
		clock.advance(time.Second)
		r := a.json("POST", loginPath, "", map[string]any{"username": "ALICE", "password": fmt.Sprint("wrong", i)})
		wantStatus(t, r, 400)
	}
	for _, pw := range []string{"wrong", goodPassword} {
		r := a.json("POST", loginPath, "", map[string]any{"username": "alice", "password": pw})
		wantBody(t, r, 429, `{"detail":"Request was throttled. Expected available in 51 seconds."}`)
		if r.header.Get("Retry-After") != "51" {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
	}
	a.login("bob", goodPassword)
	clock.advance(51 * time.Second) // the first failure leaves the window
	a.login("alice", goodPassword)
}

func TestIPThrottle(t *testing.T) {
	t.Parallel()
	clock := newClock()
	a := newAppWith(t, func(c *config) {
		c.now = clock.now
		c.throttleIP = rate{n: 3, per: time.Minute}
		c.trustedProxies = prefixList{mustPrefix("127.0.0.0/8")}
	})
	reg := func(name string, xff ...string) *resp {
		headers := []string{"Content-Type", "application/json"}
		for _, x := range xff {
			headers = append(headers, "X-Forwarded-For", x)
		}
		return a.do("POST", registerPath, strings.NewReader(`{"username":"`+name+`","email":"x@example.com","password":"`+goodPassword+`","password2":"`+goodPassword+`"}`), headers...)
	}
	for i := range 3 {
		wantStatus(t, reg(fmt.Sprint("u", i), "203.0.113.7"), 201)
	}
	wantStatus(t, reg("u3", "203.0.113.7"), 429)
	// The right-most untrusted address is the client; what it claims to
	// the left is not believed.
	wantStatus(t, reg("u4", "203.0.113.7, 198.51.100.1"), 201)
	wantStatus(t, reg("u5", "198.51.100.1, 203.0.113.7"), 429)
	wantStatus(t, reg("u6", "203.0.113.7, 10.0.0.1"), 201) // 10.0.0.1 is not a trusted proxy here
	// Logging in has a budget of its own.
	for range 3 {
		wantStatus(t, a.do("POST", loginPath, strings.NewReader(`{"username":"u0","password":"`+goodPassword+`"}`),
			"Content-Type", "application/json", "X-Forwarded-For", "203.0.113.7"), 200)
	}
	r := a.do("POST", loginPath, strings.NewReader(`{"username":"u0","password":"`+goodPassword+`"}`),
		"Content-Type", "application/json", "X-Forwarded-For", "203.0.113.7")
	wantStatus(t, r, 429)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	clock.advance(time.Minute)
	wantStatus(t, reg("u7", "203.0.113.7"), 201)
}

func TestClientIPWithoutTrustedProxies(t *testing.T) {
	t.Parallel()
	s := &server{}
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.1:5555"
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	if got := s.clientIP(r); got != "192.0.2.1" {
		t.Fatalf("X-Forwarded-For believed from an untrusted peer: %s", got)
	}
}

func TestLimiterBounded(t *testing.T) {
	t.Parallel()
	l := newLimiter(rate{n: 10, per: time.Minute})
	now := time.Now()
	for i := range 100_000 {
		l.hit(fmt.Sprint("key", i), now)
	}
	if len(l.events) > maxLimiterKeys {
		t.Fatalf("limiter holds %d keys", len(l.events))
	}
	// A key hit again and again is kept, and only its last n events.
	for range 50 {
		l.hit("hot", now)
	}
	if len(l.events["hot"]) != 10 || l.wait("hot", now) != time.Minute {
		t.Fatalf("hot key: %d events, wait %v", len(l.events["hot"]), l.wait("hot", now))
	}
}

func TestRates(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]rate{
		"10/min": {10, time.Minute}, "30/m": {30, time.Minute}, "5/sec": {5, time.Second}, "100/hour": {100, time.Hour}, "1000/day": {1000, 24 * time.Hour}, "0": {},
	} {
		var r rate
		if err := r.Set(in); err != nil || r != want {
			t.Fatalf("%s: got %v, %v", in, r, err)
		}
	}
	for _, bad := range []string{"", "ten/min", "10", "10/fortnight", "-1/min", "0/min"} {
		var r rate
		if err := r.Set(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	a := newAppWith(t, func(c *config) { c.corsOrigins = []string{"http://app.example"} })
	_, token := a.register("alice")
	pre := a.do("OPTIONS", profilePath, nil, "Origin", "http://app.example", "Access-Control-Request-Method", "PATCH",
		"Access-Control-Request-Headers", "authorization, content-type")
	wantStatus(t, pre, 200)
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin": "http://app.example", "Access-Control-Allow-Headers": "Authorization, Content-Type", "Vary": "Origin",
	} {
		if pre.header.Get(k) != v {
			t.Fatalf("preflight %s: %q", k, pre.header.Get(k))
		}
	}
	if !strings.Contains(pre.header.Get("Access-Control-Allow-Methods"), "PATCH") {
		t.Fatalf("preflight methods: %q", pre.header.Get("Access-Control-Allow-Methods"))
	}
	r := a.do("GET", profilePath, nil, append(authHeader(token), "Origin", "http://app.example")...)
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "http://app.example" {
		t.Fatalf("GET from the allowed origin: %s %v", r, r.header)
	}
	for _, r := range []*resp{
		a.do("OPTIONS", profilePath, nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "GET"),
		a.do("GET", profilePath, nil, append(authHeader(token), "Origin", "https://evil.example")...),
	} {
		for k := range r.header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Fatalf("another origin got %s", k)
			}
		}
	}
	// Without -cors-origins nothing is added.
	b := newApp(t)
	if r := b.do("OPTIONS", profilePath, nil, "Origin", "http://app.example", "Access-Control-Request-Method", "GET"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS headers without configured origins")
	}
}

func TestOptionsNeverUnauthorized(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	for path, method := range map[string]string{
		registerPath: "POST", loginPath: "POST", profilePath: "PATCH", logoutPath: "POST", logoutAllPath: "POST",
		tokensPath: "GET", tokensPath + "1/": "DELETE", passwordPath: "POST", followPath(1): "POST", userPath(1) + "followers/": "GET",
	} {
		for _, header := range [][]string{nil, {"Authorization", "Token nope"}} {
			r := a.do("OPTIONS", path, nil, header...)
			if r.status != 200 || !strings.Contains(r.header.Get("Allow"), method) || !strings.Contains(r.header.Get("Allow"), "OPTIONS") {
				t.Fatalf("OPTIONS %s: %s Allow %q", path, r, r.header.Get("Allow"))
			}
		}
	}
}

func TestSecurityEndpointsNeedAuth(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	for _, req := range [][2]string{{"POST", logoutPath}, {"POST", logoutAllPath}, {"GET", tokensPath}, {"DELETE", tokensPath + "1/"}, {"POST", passwordPath}} {
		wantBody(t, a.do(req[0], req[1], nil), 401, `{"detail":"Authentication credentials were not provided."}`)
	}
}

func TestPublicURL(t *testing.T) {
	t.Parallel()
	a := newAppWith(t, func(c *config) { c.publicURL = "https://api.example.org/social" })
	ms := a.members("user", 3)
	a.follow(ms[1], ms[0])
	a.follow(ms[2], ms[0])
	r := a.multipart("PATCH", profilePath, ms[0].token, part{name: "profile_picture", fileName: "me.png", data: pngBytes()})
	if pic := r.obj(t)["profile_picture"].(string); !strings.HasPrefix(pic, "https://api.example.org/social/media/profile_pictures/") {
		t.Fatalf("picture URL ignores -public-url: %s", pic)
	}
	p := a.page(a.url+userPath(ms[0].id)+"followers/?page_size=1", ms[0].token)
	if p.Next == nil || !strings.HasPrefix(*p.Next, "https://api.example.org/social/api/accounts/users/") {
		t.Fatalf("next link ignores -public-url: %v", p.Next)
	}
}
