package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	id, regToken := a.register("alice")
	r := a.json("POST", loginPath, "", map[string]any{"username": "alice", "password": goodPassword})
	wantStatus(t, r, http.StatusOK)
	m := r.obj(t)
	token, _ := m["token"].(string)
	if m["user_id"] != float64(id) || m["username"] != "alice" || m["email"] != "alice@example.com" {
		t.Fatalf("flat user_id/username/email wrong: %s", r)
	}
	if u, _ := m["user"].(map[string]any); u["id"] != float64(id) || u["followers_count"] != 0.0 {
		t.Fatalf("nested user wrong: %s", r)
	}
	if !isTokenKey(token) || token == regToken {
		t.Fatalf("login must issue a new 40-hex token, got %q (register gave %q)", token, regToken)
	}
	// Both tokens work: a login does not revoke earlier ones.
	for _, tok := range []string{regToken, token} {
		wantStatus(t, a.do("GET", profilePath, nil, authHeader(tok)...), 200)
	}
	// Form-encoded logins work too.
	wantStatus(t, a.form("POST", loginPath, "", "username=alice&password="+goodPassword), 200)
}

func TestLoginFailures(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.register("alice")
	bad := `{"non_field_errors":["Unable to log in with provided credentials."]}`
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"wrong password", map[string]any{"username": "alice", "password": "wrong-password"}, bad},
		{"unknown user", map[string]any{"username": "nobody", "password": goodPassword}, bad},
		{"password with spaces added", map[string]any{"username": "alice", "password": " " + goodPassword}, bad},
		{"huge password", map[string]any{"username": "alice", "password": strings.Repeat("x", 100_000)}, bad},
		{"missing", map[string]any{}, `{"username":["This field is required."],"password":["This field is required."]}`},
		{"blank", map[string]any{"username": "", "password": ""}, `{"username":["This field may not be blank."],"password":["This field may not be blank."]}`},
		{"malformed", `{"username":`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.json("POST", loginPath, "", tc.body)
			if tc.want == "" {
				wantStatus(t, r, 400)
				if d, _ := r.obj(t)["detail"].(string); !strings.HasPrefix(d, "JSON parse error - ") {
					t.Fatalf("want a JSON parse error detail, got %s", r)
				}
				return
			}
			wantBody(t, r, 400, tc.want)
		})
	}
}

// TestLoginUnknownUserCostsAHash checks that refusing an unknown username
// takes as long as refusing a wrong password, so timing does not reveal
// which usernames exist. The hash is made slow so the difference, were the
// unknown-user path to skip it, would be far beyond noise.
func TestLoginUnknownUserCostsAHash(t *testing.T) {
	a := newAppWith(t, func(c *config) { c.hash = argonParams{memory: 64 * 1024, time: 3, threads: 1} })
	a.register("alice")
	timeLogin := func(username string) time.Duration {
		best := time.Hour
		for range 3 {
			start := time.Now()
			wantStatus(t, a.json("POST", loginPath, "", map[string]any{"username": username, "password": "wrong-password"}), 400)
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := timeLogin("alice"), timeLogin("nobody")
	if unknown < known/3 {
		t.Fatalf("unknown user refused in %v, known user in %v: the unknown path skips the hash", unknown, known)
	}
}

func TestPasswordHashFormat(t *testing.T) {
	t.Parallel()
	a := newAppWith(t, func(c *config) { c.hash = defaultArgon })
	a.register("alice")
	var hash string
	a.db.r.QueryRow("SELECT password FROM users WHERE username = 'alice'").Scan(&hash)
	if !strings.HasPrefix(hash, "argon2$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(hash, goodPassword) {
		t.Fatalf("want an argon2id hash at OWASP's parameters, got %q", hash)
	}
	wantStatus(t, a.json("POST", loginPath, "", map[string]any{"username": "alice", "password": goodPassword}), 200)
}

func TestTokensStoredAsDigests(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	var stored []byte
	a.db.r.QueryRow("SELECT digest FROM tokens").Scan(&stored)
	sum := sha256.Sum256([]byte(token))
	if string(stored) != string(sum[:]) {
		t.Fatalf("want the SHA-256 of the key stored, got %x", stored)
	}
	rows, _ := a.db.r.Query("SELECT * FROM tokens")
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		rows.Scan(ptrs...)
		if strings.Contains(fmt.Sprint(vals...), token) {
			t.Fatalf("the key itself is stored: %v", vals)
		}
	}
}

func TestAuthorizationHeader(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	for _, tc := range []struct {
		header string
		status int
		detail string
	}{
		{"", 401, "Authentication credentials were not provided."},
		{"Bearer " + token, 401, "Authentication credentials were not provided."},
		{"Token", 401, "Invalid token header. No credentials provided."},
		{"Token abc def", 401, "Invalid token header. Token string should not contain spaces."},
		{"Token 0000000000000000000000000000000000000000", 401, "Invalid token."},
		{"Token été", 401, "Invalid token."},
		{"Token " + strings.ToUpper(token), 401, "Invalid token."},
		{"token " + token, 200, ""},
		{"TOKEN  " + token, 200, ""},
	} {
		var r *resp
		if tc.header == "" {
			r = a.do("GET", profilePath, nil)
		} else {
			r = a.do("GET", profilePath, nil, "Authorization", tc.header)
		}
		wantStatus(t, r, tc.status)
		if tc.status == 401 {
			wantBody(t, r, 401, fmt.Sprintf(`{"detail":%q}`, tc.detail))
			if r.header.Get("WWW-Authenticate") != "Token" {
				t.Fatalf("%q: 401 without WWW-Authenticate: Token", tc.header)
			}
		}
	}
	// DRF refuses a bad token even on endpoints open to everyone.
	r := a.do("POST", registerPath, strings.NewReader(`{}`), "Content-Type", "application/json", "Authorization", "Token nope")
	wantBody(t, r, 401, `{"detail":"Invalid token."}`)
	r = a.do("POST", loginPath, strings.NewReader(`{}`), "Content-Type", "application/json", "Authorization", "Token")
	wantBody(t, r, 401, `{"detail":"Invalid token header. No credentials provided."}`)
}

// TestCacheSeesOtherProcesses checks that a change committed through
// another connection to the file, as the admin commands make, reaches the
// in-process auth cache within a second.
func TestCacheSeesOtherProcesses(t *testing.T) {
	// Not parallel: the second it allows is for the server, not for a
	// machine busy with the CPU-heavy tests that run in parallel.
	a := newApp(t)
	_, token := a.register("alice")
	wantStatus(t, a.do("GET", profilePath, nil, authHeader(token)...), 200) // now cached
	other, err := sql.Open("sqlite", "file:"+filepath.Join(a.dir, "db.sqlite3")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(context.Background(), "UPDATE users SET bio = 'set elsewhere'"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bio changed by another process", func() bool {
		return a.do("GET", profilePath, nil, authHeader(token)...).obj(t)["bio"] == "set elsewhere"
	})
	if _, err := other.ExecContext(context.Background(), "DELETE FROM tokens"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "token deleted by another process", func() bool {
		return a.do("GET", profilePath, nil, authHeader(token)...).status == 401
	})
}

// TestWritesReachTheCache checks that this process's own writes are seen
// by the very next read of a cached user.
func TestWritesReachTheCache(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	_, token := a.register("alice")
	for i := range 20 {
		bio := fmt.Sprint("bio ", i)
		wantStatus(t, a.json("PATCH", profilePath, token, map[string]any{"bio": bio}), 200)
		if got := a.do("GET", profilePath, nil, authHeader(token)...).obj(t)["bio"]; got != bio {
			t.Fatalf("after PATCH %q, GET shows %q", bio, got)
		}
	}
	// An inactive user's token is refused at once.
	if _, err := a.db.w.Exec("UPDATE users SET is_active = 0"); err != nil {
		t.Fatal(err)
	}
	a.db.cache.clear()
	wantBody(t, a.do("GET", profilePath, nil, authHeader(token)...), 401, `{"detail":"User inactive or deleted."}`)
	wantBody(t, a.json("POST", loginPath, "", map[string]any{"username": "alice", "password": goodPassword}), 400,
		`{"non_field_errors":["Unable to log in with provided credentials."]}`)
}

// TestLoginUpgradesHash checks that a hash in a format other than our
// current argon2id, such as one imported from Django, lets its user in and
// is replaced by ours on that login.
func TestLoginUpgradesHash(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.register("alice")
	v := djangoVectors[0]
	if _, err := a.db.w.Exec("UPDATE users SET password = ?", v.encoded); err != nil {
		t.Fatal(err)
	}
	storedHash := func() string {
		var hash string
		if err := a.db.r.QueryRow("SELECT password FROM users").Scan(&hash); err != nil {
			t.Fatal(err)
		}
		return hash
	}
	wantStatus(t, a.json("POST", loginPath, "", map[string]any{"username": "alice", "password": v.password + "!"}), 400)
	if storedHash() != v.encoded {
		t.Fatal("a failed login changed the hash")
	}
	wantStatus(t, a.json("POST", loginPath, "", map[string]any{"username": "alice", "password": v.password}), 200)
	upgraded := storedHash()
	if !strings.HasPrefix(upgraded, "argon2$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("want our argon2id hash after login, got %q", upgraded)
	}
	wantStatus(t, a.json("POST", loginPath, "", map[string]any{"username": "alice", "password": v.password}), 200)
	if storedHash() != upgraded {
		t.Fatal("a current hash was replaced again")
	}
}
