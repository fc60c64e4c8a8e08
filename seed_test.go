package main

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func seedArgs(db string, extra ...string) []string {
	return append([]string{"socialapi", "seed", "-db", db}, extra...)
}

func noEnv(string) string { return "" }

func TestSeed(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "db.sqlite3")
	before := time.Now()
	var out strings.Builder
	if err := run(context.Background(), seedArgs(db, "-users", "500", "-edges", "3000"), noEnv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "seeded 500 users and 3000 follows") || !strings.Contains(out.String(), seedPassword) {
		t.Fatalf("summary: %s", out.String())
	}

	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, c := range []struct {
		name, query string
		want        int64
	}{
		{"users", "SELECT count(*) FROM users", 500},
		{"follows", "SELECT count(*) FROM follows", 3000},
		{"self-follows", "SELECT count(*) FROM follows WHERE follower_id = followee_id", 0},
		{"wrong followers_count", `SELECT count(*) FROM users u WHERE followers_count <>
			(SELECT count(*) FROM follows WHERE followee_id = u.id)`, 0},
		{"wrong following_count", `SELECT count(*) FROM users u WHERE following_count <>
			(SELECT count(*) FROM follows WHERE follower_id = u.id)`, 0},
		{"dangling follows", "SELECT count(*) FROM pragma_foreign_key_check('follows')", 0},
		{"follows indexes", "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'follows' AND sql IS NOT NULL", 2},
		{"follows out of the past year", "SELECT count(*) FROM follows WHERE created NOT BETWEEN ? AND ?", 0},
	} {
		var got int64
		args := []any{}
		if strings.Contains(c.query, "?") {
			args = append(args, before.Add(-366*24*time.Hour).UnixMicro(), time.Now().UnixMicro())
		}
		if err := conn.QueryRow(c.query, args...).Scan(&got); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}

	// Usernames pass registration's checks, with keys and emails to match,
	// and start with letters of every kind.
	rows, err := conn.Query("SELECT username, username_key, email FROM users")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	first := map[byte]bool{}
	for rows.Next() {
		var username, key, email string
		if err := rows.Scan(&username, &key, &email); err != nil {
			t.Fatal(err)
		}
		fe := fieldErrors{}
		checkUsername(fe, username)
		checkEmail(fe, "email", email)
		if len(fe) > 0 || key != usernameKey(username) || email != username+"@example.com" {
			t.Fatalf("user %q, key %q, email %q: %v", username, key, email, fe)
		}
		first[username[0]] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(first) < 20 {
		t.Errorf("usernames start with only %d different letters", len(first))
	}

	var username string
	var userID, followers int64
	if err := conn.QueryRow("SELECT username, id, followers_count FROM users ORDER BY followers_count DESC LIMIT 1").
		Scan(&username, &userID, &followers); err != nil {
		t.Fatal(err)
	}
	if followers < 100 {
		t.Errorf("the most-followed user has %d followers; the skew is gone", followers)
	}

	err = run(context.Background(), seedArgs(db, "-users", "10", "-edges", "10"), noEnv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "already has 500 users") {
		t.Fatalf("a second seed into the same file: %v", err)
	}

	st, err := openStore(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := newServer(slog.New(slog.DiscardHandler), st, config{mediaDir: filepath.Join(filepath.Dir(db), "media"), maxUpload: 5 << 20, hash: testArgon})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	defer ts.Close()
	a := &app{t: t, url: ts.URL}
	r := a.json("POST", loginPath, "", map[string]string{"username": strings.ToUpper(username), "password": seedPassword})
	wantStatus(t, r, http.StatusOK)
	m := r.obj(t)
	if m["user_id"] != float64(userID) || m["user"].(map[string]any)["followers_count"] != float64(followers) {
		t.Fatalf("login as %s (id %d, %d followers): %s", username, userID, followers, r)
	}
	wantStatus(t, a.json("POST", loginPath, "", map[string]string{"username": username, "password": "wrong-" + seedPassword}), http.StatusBadRequest)
}

func TestSeedSameSeedSameGraph(t *testing.T) {
	t.Parallel()
	graph := func(db string) string {
		if err := run(context.Background(), seedArgs(db, "-users", "50", "-edges", "400", "-seed", "7"), noEnv, nil, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var s string
		err = conn.QueryRow(`SELECT (SELECT group_concat(username, ',') FROM (SELECT username FROM users ORDER BY id)) ||
			(SELECT group_concat(e, ',') FROM (SELECT follower_id || '>' || followee_id AS e FROM follows ORDER BY follower_id, followee_id))`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	dir := t.TempDir()
	if a, b := graph(filepath.Join(dir, "a.sqlite3")), graph(filepath.Join(dir, "b.sqlite3")); a != b {
		t.Fatalf("seed 7 made two graphs:\n%s\n%s", a, b)
	}
}

func TestSeedRefusesBadSizes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"socialapi", "seed", "-users", "5"}, "-db is required"},
		{seedArgs(filepath.Join(dir, "a"), "-users", "0"), "-users must be"},
		{seedArgs(filepath.Join(dir, "b"), "-users", "3", "-edges", "7"), "-edges must be between 0 and 6"},
		{seedArgs(filepath.Join(dir, "c"), "-users", "3", "-edges", "-1"), "-edges must be"},
		{seedArgs(filepath.Join(dir, "d"), "-users", "3", "extra"), `unexpected argument "extra"`},
		// A complete graph is allowed but the skew cannot fill it.
		{seedArgs(filepath.Join(dir, "e"), "-users", "40", "-edges", "1560"), "distinct follows"},
	} {
		err := run(context.Background(), c.args, noEnv, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.args, err, c.want)
		}
	}
}
