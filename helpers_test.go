package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testArgon keeps hashing cheap in tests; TestPasswordHashFormat checks the
// real parameters.
var testArgon = argonParams{memory: 64, time: 1, threads: 1}

// app is a server on a temp database, reached over real HTTP.
type app struct {
	t        *testing.T
	url      string
	dir      string
	db       *store
	mediaDir string
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newApp(t *testing.T) *app { return newAppWith(t, func(*config) {}) }

func newAppWith(t *testing.T, edit func(*config)) *app {
	t.Helper()
	return newAppAt(t, t.TempDir(), edit)
}

// newAppAt serves the database dir/db.sqlite3, creating it if need be.
func newAppAt(t *testing.T, dir string, edit func(*config)) *app {
	t.Helper()
	st, err := openStore(filepath.Join(dir, "db.sqlite3"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{mediaDir: filepath.Join(dir, "media"), maxUpload: 5 << 20, hash: testArgon, throttleLogin: rate{n: 10, per: time.Minute}}
	edit(&cfg)
	logs := &syncBuffer{}
	h, err := newServer(slog.New(slog.NewTextHandler(logs, nil)), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		st.Close()
	})
	return &app{t: t, url: ts.URL, dir: dir, db: st, mediaDir: cfg.mediaDir, logs: logs}
}

// resp is a fully read response.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r *resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// obj decodes the body as a JSON object.
func (r *resp) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %s", r)
	}
	return m
}

// do sends a request; headers come in name, value pairs.
func (a *app) do(method, path string, body io.Reader, headers ...string) *resp {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return &resp{status: res.StatusCode, header: res.Header, body: data}
}

func authHeader(token string) []string {
	if token == "" {
		return nil
	}
	return []string{"Authorization", "Token " + token}
}

// json sends v (a string is sent as it is) as a JSON body.
func (a *app) json(method, path, token string, v any) *resp {
	a.t.Helper()
	var body []byte
	if s, ok := v.(string); ok {
		body = []byte(s)
	} else {
		var err error
		if body, err = json.Marshal(v); err != nil {
			a.t.Fatal(err)
		}
	}
	return a.do(method, path, bytes.NewReader(body), append(authHeader(token), "Content-Type", "application/json")...)
}

func (a *app) form(method, path, token, encoded string) *resp {
	a.t.Helper()
	return a.do(method, path, strings.NewReader(encoded), append(authHeader(token), "Content-Type", "application/x-www-form-urlencoded")...)
}

// part is one multipart field; a non-empty fileName makes it a file.
type part struct {
	name, value, fileName string
	data                  []byte
}

func (a *app) multipart(method, path, token string, parts ...part) *resp {
	a.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		if p.fileName == "" {
			mw.WriteField(p.name, p.value)
			continue
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, p.name, p.fileName))
		h.Set("Content-Type", "application/octet-stream")
		w, _ := mw.CreatePart(h)
		w.Write(p.data)
	}
	mw.Close()
	return a.do(method, path, &buf, append(authHeader(token), "Content-Type", mw.FormDataContentType())...)
}

const (
	registerPath = "/api/accounts/register/"
	loginPath    = "/api/accounts/login/"
	profilePath  = "/api/accounts/profile/"
	goodPassword = "Sup3r-Secret!x"
)

func regBody(username, email, password string) map[string]any {
	return map[string]any{"username": username, "email": email, "password": password, "password2": password}
}

// register creates a user and returns its id and token.
func (a *app) register(username string) (int64, string) {
	a.t.Helper()
	r := a.json("POST", registerPath, "", regBody(username, username+"@example.com", goodPassword))
	if r.status != http.StatusCreated {
		a.t.Fatalf("register %s: %s", username, r)
	}
	m := r.obj(a.t)
	return int64(m["user"].(map[string]any)["id"].(float64)), m["token"].(string)
}

// wantStatus fails unless r has the status.
func wantStatus(t *testing.T, r *resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("want status %d, got %s", status, r)
	}
}

// wantBody fails unless r's status and JSON body are exactly those given.
func wantBody(t *testing.T, r *resp, status int, want string) {
	t.Helper()
	wantStatus(t, r, status)
	var got, exp any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body is not JSON: %s", r)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	g, _ := json.Marshal(got)
	e, _ := json.Marshal(exp)
	if !bytes.Equal(g, e) {
		t.Fatalf("want body %s, got %s", e, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("want Content-Type application/json, got %q", ct)
	}
}

func testImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			img.Set(x, y, color.RGBA{uint8(60 * x), uint8(80 * y), 200, 255})
		}
	}
	return img
}

func pngBytes() []byte {
	var b bytes.Buffer
	png.Encode(&b, testImage(4, 3))
	return b.Bytes()
}

func jpegBytes() []byte {
	var b bytes.Buffer
	jpeg.Encode(&b, testImage(4, 3), nil)
	return b.Bytes()
}

func gifBytes() []byte {
	var b bytes.Buffer
	gif.Encode(&b, testImage(4, 3), nil)
	return b.Bytes()
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSONString(t *testing.T, v any) string { return string(mustJSON(t, v)) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// eventually retries ok for a second.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within a second", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
