package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// admin runs a subcommand against the database in dir, with stdin, and
// returns its output and error.
func admin(t *testing.T, dir, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut strings.Builder
	n := 1 // -db goes after the subcommand, and after its action if it has one
	if args[0] == "user" || args[0] == "token" {
		n = 2
	}
	full := append(append([]string{"socialapi"}, args[:n]...), "-db", filepath.Join(dir, "db.sqlite3"))
	full = append(full, args[n:]...)
	err := run(context.Background(), full, func(string) string { return "" }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

func TestUserCreateAndList(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := admin(t, dir, goodPassword+"\n", "user", "create", "-username", "Admin", "-email", "admin@example.com", "-superuser")
	if err != nil || !strings.Contains(out, "created user Admin") {
		t.Fatalf("create: %q %v", out, err)
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{goodPassword, []string{"-username", "ADMIN", "-email", "a@example.com"}, "taken"},
		{"short", []string{"-username", "bob", "-email", "bob@example.com"}, "This password is too short."},
		{"", []string{"-username", "bob", "-email", "bob@example.com"}, "no password"},
		{goodPassword, []string{"-username", "bad name", "-email", "bob@example.com"}, "username refused"},
		{goodPassword, []string{"-username", "bob", "-email", "nope"}, "email refused"},
		{goodPassword, []string{"-email", "bob@example.com"}, "-username is required"},
	} {
		if _, err := admin(t, dir, tc.stdin, append([]string{"user", "create"}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("create %v: want an error with %q, got %v", tc.args, tc.want, err)
		}
	}
	if _, err := admin(t, dir, goodPassword+"\r\n", "user", "create", "-username", "bob", "-email", "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	out, err = admin(t, dir, "", "user", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^ID\s+USERNAME\s+EMAIL\s+ACTIVE\s+STAFF\s+JOINED\s+FOLLOWERS$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^1\s+Admin\s+admin@example.com\s+yes\s+yes\s+\d{4}-\d\d-\d\d\s+0$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^2\s+bob\s+bob@example.com\s+yes\s+no\s`).MatchString(lines[2]) {
		t.Fatalf("list:\n%s", out)
	}
	if out, _ := admin(t, dir, "", "user", "list", "-search", "AD"); strings.Contains(out, "bob") || !strings.Contains(out, "Admin") {
		t.Fatalf("list -search AD:\n%s", out)
	}
	// The created users log in through the API, the password read up to
	// the line end.
	a := newAppAt(t, dir, func(*config) {})
	a.login("admin", goodPassword)
	a.login("bob", goodPassword)
	if _, err := admin(t, t.TempDir(), "", "user", "list"); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("list on a missing database: %v", err)
	}
}

// TestAdminChangesReachRunningServer runs the admin commands on the file a
// server is serving and checks that the server honours them within a second.
func TestAdminChangesReachRunningServer(t *testing.T) {
	// Not parallel: the second it allows is for the server, not for a
	// machine busy with the CPU-heavy tests that run in parallel.
	dir := t.TempDir()
	a := newAppAt(t, dir, func(*config) {})
	ms := a.members("user", 2)
	alice, bob := ms[0], ms[1]
	a.follow(bob, alice)
	a.works(alice.token)
	a.works(bob.token)

	if out, err := admin(t, dir, "", "user", "deactivate", "-username", "USER01"); err != nil || out != "USER01: deactivated\n" {
		t.Fatalf("deactivate: %q %v", out, err)
	}
	eventually(t, "deactivated user refused", func() bool {
		r := a.do("GET", profilePath, nil, authHeader(bob.token)...)
		return r.status == 401 && strings.Contains(string(r.body), "User inactive or deleted.")
	})
	wantStatus(t, a.json("POST", loginPath, "", map[string]any{"username": "user01", "password": goodPassword}), 400)
	p := a.page(a.url+userPath(alice.id)+"followers/", alice.token)
	if p.Count != 0 || len(p.Results) != 0 {
		t.Fatalf("a deactivated follower still counts: %+v", p)
	}
	if _, err := admin(t, dir, "", "user", "activate", "-username", "user01"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "activated user accepted", func() bool { return a.do("GET", profilePath, nil, authHeader(bob.token)...).status == 200 })
	if p := a.page(a.url+userPath(alice.id)+"followers/", alice.token); p.Count != 1 || len(p.Results) != 1 {
		t.Fatalf("after activation: %+v", p)
	}

	const newPassword = "An0ther-Secret!"
	if _, err := admin(t, dir, newPassword+"\n", "user", "passwd", "-username", "user00"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revoked token refused", func() bool { return a.do("GET", profilePath, nil, authHeader(alice.token)...).status == 401 })
	a.refused(alice.token)
	a.works(a.login("user00", newPassword))
	if _, err := admin(t, dir, "x", "user", "passwd", "-username", "nobody"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Fatalf("passwd for nobody: %v", err)
	}

	out, err := admin(t, dir, "", "token", "create", "-username", "user01")
	token := strings.TrimSpace(out)
	if err != nil || !isTokenKey(token) {
		t.Fatalf("token create: %q %v", out, err)
	}
	a.works(token)
}

// TestBackupWhileWriting backs up a database while registrations keep
// coming, and checks that the copy is sound and holds every registration
// acknowledged before the backup started.
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newAppAt(t, dir, func(*config) {})
	_, token := a.register("pictured")
	a.picture(token, "me.png", pngBytes())
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprint("writer", i)
			if r := a.json("POST", registerPath, "", regBody(name, name+"@example.com", goodPassword)); r.status == 201 {
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	before := append([]string{}, acked...)
	mu.Unlock()
	backup := filepath.Join(t.TempDir(), "backup", "db.sqlite3")
	out, err := admin(t, dir, "", "backup", backup)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if !strings.Contains(out, "1 pictures") {
		t.Fatalf("backup output: %q", out)
	}
	if out, err := admin(t, dir, "", "backup", "-check", backup); err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("check: %q %v", out, err)
	}
	if len(before) == 0 {
		t.Fatal("no writes were acknowledged before the backup")
	}
	db, err := sql.Open("sqlite", "file:"+backup+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range before {
		var n int
		db.QueryRow("SELECT count(*) FROM users WHERE username = ?", name).Scan(&n)
		if n != 1 {
			t.Fatalf("%s was acknowledged before the backup but is not in it", name)
		}
	}
	if _, err := admin(t, dir, "", "backup", backup); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a second backup to the same file: %v", err)
	}
	// A damaged copy fails the check.
	pics, _ := os.ReadDir(filepath.Join(filepath.Dir(backup), "media", picturesDir))
	os.Remove(filepath.Join(filepath.Dir(backup), "media", picturesDir, pics[0].Name()))
	if _, err := admin(t, dir, "", "backup", "-check", backup); err == nil || !strings.Contains(err.Error(), "missing picture") {
		t.Fatalf("check of a copy without its picture: %v", err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newAppAt(t, dir, func(*config) {})
	_, token := a.register("alice")
	a.picture(token, "me.png", pngBytes())
	pics := filepath.Join(a.mediaDir, picturesDir)
	old := filepath.Join(pics, strings.Repeat("a", 32)+".png")
	young := filepath.Join(pics, strings.Repeat("b", 32)+".png")
	os.WriteFile(old, pngBytes(), 0o644)
	os.WriteFile(young, pngBytes(), 0o644)
	os.Chtimes(old, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
	out, err := admin(t, dir, "", "check")
	if err != nil || !strings.Contains(out, "database: ok") || !strings.Contains(out, "1 referenced, 1 orphaned, 0 missing") ||
		!strings.Contains(out, "orphan: "+filepath.Base(old)) {
		t.Fatalf("check:\n%s%v", out, err)
	}
	if out, err := admin(t, dir, "", "check", "-fix"); err != nil || !strings.Contains(out, "removed orphan") {
		t.Fatalf("check -fix:\n%s%v", out, err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Fatal("orphan not removed")
	}
	if _, err := os.Stat(young); err != nil {
		t.Fatal("a fresh file was removed as an orphan")
	}
	entries, _ := os.ReadDir(pics)
	for _, e := range entries {
		if e.Name() != filepath.Base(young) {
			os.Remove(filepath.Join(pics, e.Name()))
		}
	}
	if out, _ := admin(t, dir, "", "check"); !strings.Contains(out, "1 referenced, 0 orphaned, 1 missing") {
		t.Fatalf("check with the picture gone:\n%s", out)
	}
}

// TestCommandMistakes checks that a mistake on the command line is one
// error, with no usage dump, and that asking for the usage is not an error.
func TestCommandMistakes(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"user", "create", "-bogus"}, {"backup"}, {"token"}, {"user", "fly", "-username", "x"}, {"seed", "-x"}, {"-nope"}} {
		var stderr strings.Builder
		err := run(context.Background(), append([]string{"socialapi"}, args...), func(string) string { return "" }, strings.NewReader(""), io.Discard, &stderr)
		if err == nil || strings.Contains(err.Error(), "\n") || stderr.Len() != 0 {
			t.Fatalf("%v: error %v, stderr %q", args, err, stderr.String())
		}
	}
	for _, args := range [][]string{{"user", "list", "-h"}, {"backup", "-h"}, {"check", "-h"}, {"import-django", "-h"}, {"seed", "-h"}} {
		var stderr strings.Builder
		err := run(context.Background(), append([]string{"socialapi"}, args...), func(string) string { return "" }, strings.NewReader(""), io.Discard, &stderr)
		if err != nil || !strings.Contains(stderr.String(), "Usage: socialapi") {
			t.Fatalf("%v: error %v, stderr %q", args, err, stderr.String())
		}
	}
}
