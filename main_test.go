package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startRun calls run with args on a free port and returns its base URL and
// a function that stops it and returns run's error.
func startRun(t *testing.T, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"socialapi", "-addr", "127.0.0.1:0"}, args...), func(string) string { return "" }, nil, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("run printed no address: %v (%v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	base := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return fmt.Errorf("run did not return after its context was cancelled")
		}
	}
	return base, stop
}

func TestRunServes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "nested", "db.sqlite3")
	base, stop := startRun(t, "-db", db)
	res, err := http.Post(base+registerPath, "application/json",
		strings.NewReader(`{"username":"alice","email":"alice@example.com","password":"Sup3r-Secret!x","password2":"Sup3r-Secret!x"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("register through run: %d", res.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, p := range []string{db, filepath.Join(dir, "nested", "media", "profile_pictures")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("not created: %v", err)
		}
	}
	// A second start on the same file changes nothing and finds the user.
	before := schemaOf(t, db)
	base, stop = startRun(t, "-db", db)
	res, err = http.Post(base+loginPath, "application/x-www-form-urlencoded", strings.NewReader("username=alice&password=Sup3r-Secret!x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("login after restart: %d", res.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if after := schemaOf(t, db); after != before {
		t.Fatalf("second start changed the schema:\n%s\n%s", before, after)
	}
}

// schemaOf is a database's schema and user_version as text.
func schemaOf(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	db.QueryRow("PRAGMA user_version").Scan(&version)
	rows, err := db.Query("SELECT sql FROM sqlite_schema ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := fmt.Sprint("version ", version, "\n")
	for rows.Next() {
		var s sql.NullString
		rows.Scan(&s)
		out += s.String + "\n"
	}
	if version != len(migrations) {
		t.Fatalf("user_version %d, want %d", version, len(migrations))
	}
	return out
}

// TestShutdownDrains checks that a request in flight when the signal comes
// is still answered.
func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	base, stop := startRun(t, "-db", filepath.Join(t.TempDir(), "db.sqlite3"))
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"username":"alice","email":"alice@example.com","password":"Sup3r-Secret!x","password2":"Sup3r-Secret!x"}`
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", registerPath, len(body), body[:10])
	time.Sleep(100 * time.Millisecond) // the server is now reading the body
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(100 * time.Millisecond)
	fmt.Fprint(conn, body[10:])
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request dropped: %v", err)
	}
	if res.StatusCode != 201 {
		t.Fatalf("in-flight request: %d", res.StatusCode)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func TestRunFlags(t *testing.T) {
	t.Parallel()
	var stderr strings.Builder
	if err := run(context.Background(), []string{"socialapi", "-h"}, func(string) string { return "" }, nil, io.Discard, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-addr", "SOCIALAPI_ADDR", "-db", "SOCIALAPI_DB", "-max-upload", "5242880"} {
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("-h does not mention %s:\n%s", want, stderr.String())
		}
	}
	env := func(k string) string { return map[string]string{"SOCIALAPI_MAX_UPLOAD": "lots"}[k] }
	if err := run(context.Background(), []string{"socialapi"}, env, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "SOCIALAPI_MAX_UPLOAD") {
		t.Fatalf("a bad environment value must stop start-up, got %v", err)
	}
	var size byteSize
	for in, want := range map[string]int64{"5MiB": 5 << 20, "512KiB": 512 << 10, "1000": 1000} {
		if err := size.Set(in); err != nil || int64(size) != want {
			t.Fatalf("%s: got %d, %v", in, size, err)
		}
	}
}

func TestServerTimeouts(t *testing.T) {
	t.Parallel()
	srv := newHTTPServer(http.NotFoundHandler(), slog.DiscardHandler)
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Fatalf("unbounded server: %+v", srv)
	}
}
