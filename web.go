package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"time"
)

// webFiles is the browser app: web/index.html, served at /, and the files
// of web/static, served under /static/. They are plain files, with no
// build step, so what is committed is what runs.
//
//go:embed web
var webFiles embed.FS

// openAPIDoc describes every route, for front-end developers and tools.
//
//go:embed openapi.json
var openAPIDoc []byte

// asset is an embedded file ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// assetTypes are the content types of the kinds of file web/static holds;
// a file of any other kind stops the server at start, so that none is
// served with a guessed type.
var assetTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

// webAssets is the app's page, its static files by name, and the OpenAPI
// document, each hashed once at start.
type webAssets struct {
	page   asset
	static map[string]asset
	schema asset
}

func loadWebAssets() (*webAssets, error) {
	page, err := webFiles.ReadFile("web/index.html")
	if err != nil {
		return nil, fmt.Errorf("web page: %w", err)
	}
	wa := &webAssets{
		page:   newAsset(page, "text/html; charset=utf-8"),
		static: map[string]asset{},
		schema: newAsset(openAPIDoc, "application/json"),
	}
	entries, err := fs.ReadDir(webFiles, "web/static")
	if err != nil {
		return nil, fmt.Errorf("web static files: %w", err)
	}
	for _, e := range entries {
		ct, ok := assetTypes[path.Ext(e.Name())]
		if !ok {
			return nil, fmt.Errorf("web static file %s: unknown type", e.Name())
		}
		body, err := webFiles.ReadFile("web/static/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("web static file: %w", err)
		}
		wa.static[e.Name()] = newAsset(body, ct)
	}
	return wa, nil
}

// pageCSP is the Content-Security-Policy of the app and its files: scripts
// and styles from this server only, so no injected markup can run or
// restyle anything, and no forms that submit by themselves (the app sends
// every form through fetch). Picture URLs and page links start with the
// public URL when one is set, so its origin may be fetched and shown too.
func pageCSP(publicURL string) string {
	origins := "'self'"
	if u, err := url.Parse(publicURL); err == nil && u.Scheme != "" && u.Host != "" {
		origins += " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + origins +
		"; connect-src " + origins + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// serveAsset answers with a, which browsers must revalidate on every use
// (no-cache with an ETag): after an upgrade they fetch the new script at
// once, and until then they get a 304 without the body.
func serveAsset(w http.ResponseWriter, r *http.Request, a asset, csp string) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("Content-Security-Policy", csp)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

func (s *server) handlePage(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, s.web.page, s.csp)
}

func (s *server) handleStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := s.web.static[r.PathValue("file")]
	if !ok {
		writeDetail(w, http.StatusNotFound, "Not found.")
		return
	}
	serveAsset(w, r, a, s.csp)
}

// handleSchema serves the OpenAPI document. It is data, not a page, so it
// may load nothing at all.
func (s *server) handleSchema(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, s.web.schema, "default-src 'none'")
}
