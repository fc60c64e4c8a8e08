package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	for _, tc := range []struct {
		method, path, token string
		status              int
		allow, body         string
	}{
		{"DELETE", profilePath, token, 405, "GET, PUT, PATCH, HEAD, OPTIONS", `{"detail":"Method \"DELETE\" not allowed."}`},
		{"POST", profilePath, token, 405, "GET, PUT, PATCH, HEAD, OPTIONS", `{"detail":"Method \"POST\" not allowed."}`},
		// Authentication comes before the method check, as in DRF.
		{"DELETE", profilePath, "", 401, "GET, PUT, PATCH, HEAD, OPTIONS", `{"detail":"Authentication credentials were not provided."}`},
		{"GET", registerPath, "", 405, "POST, OPTIONS", `{"detail":"Method \"GET\" not allowed."}`},
		{"PUT", loginPath, "", 405, "POST, OPTIONS", `{"detail":"Method \"PUT\" not allowed."}`},
		{"GET", registerPath, "0000000000000000000000000000000000000000", 401, "POST, OPTIONS", `{"detail":"Invalid token."}`},
	} {
		r := a.do(tc.method, tc.path, nil, authHeader(tc.token)...)
		wantBody(t, r, tc.status, tc.body)
		if got := r.header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: want Allow %q, got %q", tc.method, tc.path, tc.allow, got)
		}
	}
	// Successful replies carry Allow too.
	if got := a.do("GET", profilePath, nil, authHeader(token)...).header.Get("Allow"); got != "GET, PUT, PATCH, HEAD, OPTIONS" {
		t.Fatalf("GET profile: Allow %q", got)
	}
}

func TestOptionsAnswersWithoutAuth(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	for path, allow := range map[string]string{registerPath: "POST, OPTIONS", profilePath: "GET, PUT, PATCH, HEAD, OPTIONS"} {
		r := a.do("OPTIONS", path, nil)
		wantStatus(t, r, 200)
		if r.header.Get("Allow") != allow {
			t.Fatalf("OPTIONS %s: Allow %q", path, r.header.Get("Allow"))
		}
	}
}

func TestHeadProfile(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	r := a.do("HEAD", profilePath, nil, authHeader(token)...)
	if r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("HEAD: %s %v", r, r.header)
	}
}

func TestUnknownRoutesAndSlashes(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	for _, path := range []string{"/index.html", "/api/accounts/nope/", "/api/accounts/profile/extra/", "/media/nope.png", "/media/profile_pictures/nope.png",
		"/media/profile_pictures/00000000000000000000000000000000.png", "/static/", "/static/nope.js", "/static/app.js/x", "/api/schema/x"} {
		wantBody(t, a.do("GET", path, nil), 404, `{"detail":"Not found."}`)
	}
	// The page answers GET only; every other method on / is an unknown route.
	wantBody(t, a.do("POST", "/", nil), 404, `{"detail":"Not found."}`)
	// A missing trailing slash is a 301 to the slashed path, query kept,
	// as Django's APPEND_SLASH answers.
	r := a.do("POST", "/api/accounts/register?x=1", nil)
	if r.status != http.StatusMovedPermanently || r.header.Get("Location") != "/api/accounts/register/?x=1" {
		t.Fatalf("want 301 to the slashed path, got %s %v", r, r.header)
	}
	wantBody(t, a.do("GET", "/api/accounts/nope", nil), 404, `{"detail":"Not found."}`)
}

func TestBodyErrors(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		want                    string // a prefix of the detail, or a whole body when it starts with {
	}{
		{"null", "application/json", "null", 400, `{"non_field_errors":["No data provided"]}`},
		{"text/plain", "text/plain", "username=erin", 415, `{"detail":"Unsupported media type \"text/plain\" in request."}`},
		{"no content type", "", `{"bio":"x"}`, 415, `{"detail":"Unsupported media type \"\" in request."}`},
		{"malformed JSON", "application/json", `{"username": "erin",`, 400, "JSON parse error - "},
		{"invalid UTF-8", "application/json", "{\"bio\": \"\xff\"}", 400, "JSON parse error - "},
		{"deeply nested", "application/json", strings.Repeat("[", 100_000), 400, "JSON parse error - "},
		{"over 1 MiB", "application/json", `{"bio":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "Request body is too large."},
		{"broken multipart", "multipart/form-data; boundary=x", "--x\r\nbroken", 400, "Multipart form parse error - "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.contentType != "" {
				headers = []string{"Content-Type", tc.contentType}
			}
			for _, method := range []string{"POST " + registerPath, "PATCH " + profilePath} {
				m, path, _ := strings.Cut(method, " ")
				r := a.do(m, path, strings.NewReader(tc.body), append(headers, authHeader(token)...)...)
				if strings.HasPrefix(tc.want, "{") {
					wantBody(t, r, tc.status, tc.want)
					continue
				}
				wantStatus(t, r, tc.status)
				if d, _ := r.obj(t)["detail"].(string); !strings.HasPrefix(d, tc.want) {
					t.Fatalf("%s: want detail starting %q, got %s", method, tc.want, r)
				}
			}
		})
	}
	// None of it changed the profile.
	wantBody(t, a.do("GET", profilePath, nil, authHeader(token)...), 200,
		`{"id":1,"username":"alice","email":"alice@example.com","bio":"","profile_picture":null,"followers_count":0,"following_count":0}`)
}

func TestNotAcceptable(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	r := a.do("POST", registerPath, strings.NewReader("{}"), "Content-Type", "application/json", "Accept", "text/html")
	wantBody(t, r, 406, `{"detail":"Could not satisfy the request Accept header."}`)
	r = a.do("POST", registerPath, strings.NewReader("{}"), "Content-Type", "application/json", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	wantStatus(t, r, 400)
}

func TestHardenedHeaders(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	for _, r := range []*resp{
		a.do("GET", profilePath, nil, authHeader(token)...),
		a.do("GET", profilePath, nil),
		a.do("GET", "/nope", nil),
		a.json("POST", registerPath, "", "{}"),
	} {
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"} {
			if r.header.Get(k) != v {
				t.Fatalf("want %s: %s on %s", k, v, r)
			}
		}
	}
}

func TestRequestLog(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	id, token := a.register("alice")
	a.do("GET", profilePath+"?secret=1", nil, authHeader(token)...)
	a.json("POST", loginPath, "", map[string]any{"username": "alice", "password": goodPassword})
	logs := a.logs.String()
	for _, want := range []string{
		"method=GET path=/api/accounts/profile/ status=200 dur=",
		"user_id=" + strconv.FormatInt(id, 10),
		"method=POST path=/api/accounts/login/ status=200",
	} {
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{token, goodPassword, "secret=1"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log contains %q:\n%s", secret, logs)
		}
	}
}

func TestPanicsBecome500(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	s := &server{log: slog.New(slog.NewTextHandler(&logs, nil))}
	h := s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(errors.New("boom")) }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || rec.Body.String() != `{"detail":"A server error occurred."}` {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Fatalf("panic not logged: %s", logs.String())
	}
}

func TestStorePragmas(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"}, {"synchronous", "2"}, {"foreign_keys", "1"}, {"busy_timeout", "10000"},
	} {
		for name, db := range map[string]*sql.DB{"writer": a.db.w, "reader": a.db.r} {
			var got string
			if err := db.QueryRow("PRAGMA " + tc.pragma).Scan(&got); err != nil || got != tc.want {
				t.Errorf("%s: PRAGMA %s = %q (%v), want %q", name, tc.pragma, got, err, tc.want)
			}
		}
	}
	var strict int
	a.db.r.QueryRow("SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%' AND strict = 0").Scan(&strict)
	if strict != 0 {
		t.Fatalf("%d tables are not STRICT", strict)
	}
	if _, err := a.db.r.Exec("UPDATE users SET bio = 'x'"); err == nil {
		t.Fatal("the read pool accepted a write")
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	wantBody(t, a.do("GET", "/healthz", nil), 200, `{"status":"ok"}`)
	if strings.Contains(a.logs.String(), "path=/healthz") {
		t.Fatalf("health checks logged at info level:\n%s", a.logs.String())
	}
	a.db.r.Close()
	wantBody(t, a.do("GET", "/healthz", nil), 503, `{"detail":"The database cannot be read."}`)
}

// TestDeclaredBodyTooLarge checks that a body declared over the limit is
// refused at once, for every body type, without waiting for it.
func TestDeclaredBodyTooLarge(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	for _, ct := range []string{"application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(a.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 99999999999\r\n\r\n{}", registerPath, ct)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: no answer: %v", ct, err)
		}
		body, _ := io.ReadAll(res.Body)
		conn.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "Request body is too large") {
			t.Fatalf("%s: %d %s", ct, res.StatusCode, body)
		}
	}
}
