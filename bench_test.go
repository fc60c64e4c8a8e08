package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// benchServer is the whole handler on a temp database with one user, and
// that user's token.
func benchServer(b *testing.B) (http.Handler, string) {
	b.Helper()
	dir := b.TempDir()
	st, err := openStore(filepath.Join(dir, "db.sqlite3"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	h, err := newServer(slog.New(slog.NewTextHandler(io.Discard, nil)), st,
		config{mediaDir: filepath.Join(dir, "media"), maxUpload: 5 << 20, hash: testArgon})
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, jsonRequest("POST", registerPath, "",
		`{"username":"bench","email":"bench@example.com","password":"Sup3r-Secret!x","password2":"Sup3r-Secret!x"}`))
	token := rec.Body.String()
	i := strings.Index(token, `"token":"`)
	return h, token[i+9 : i+49]
}

func jsonRequest(method, path, token, body string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Token "+token)
	}
	return r
}

// BenchmarkProfileGet is the authenticated read path, from the request
// log to the JSON reply, without the network.
func BenchmarkProfileGet(b *testing.B) {
	h, token := benchServer(b)
	r := httptest.NewRequest("GET", profilePath, nil)
	r.Header.Set("Authorization", "Token "+token)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}

// BenchmarkProfilePatch is a bio update: parse, validate, one committed
// write with synchronous=FULL.
func BenchmarkProfilePatch(b *testing.B) {
	h, token := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, jsonRequest("PATCH", profilePath, token, `{"bio":"benchmarking"}`))
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkPasswordHash is the cost of one argon2id hash at the default
// parameters: what every register, login and password change pays.
func BenchmarkPasswordHash(b *testing.B) {
	h := newHasher(defaultArgon, newWorkLimit())
	for b.Loop() {
		h.encode("Sup3r-Secret!x")
	}
}
