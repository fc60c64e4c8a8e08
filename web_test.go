package main

import (
	"bytes"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestPageAndStaticFiles(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	page := a.do("GET", "/", nil)
	wantStatus(t, page, 200)
	// Every file the page refers to is served, with its type and the policy.
	refs := regexp.MustCompile(`(?:src|href)="(static/[^"]+)"`).FindAllStringSubmatch(string(page.body), -1)
	if len(refs) < 3 {
		t.Fatalf("want the page to load its script, style and icon, got %q", refs)
	}
	types := map[string]string{"/": "text/html; charset=utf-8"}
	for _, ref := range refs {
		types["/"+ref[1]] = assetTypes[ref[1][strings.LastIndexByte(ref[1], '.'):]]
	}
	for path, contentType := range types {
		r := a.do("GET", path, nil)
		wantStatus(t, r, 200)
		for k, v := range map[string]string{"Content-Type": contentType, "Content-Security-Policy": csp,
			"Cache-Control": "no-cache", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: want %s %q, got %q", path, k, v, got)
			}
		}
		// A browser revalidates, and gets the body again only once it changed.
		etag := r.header.Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", path)
		}
		wantStatus(t, a.do("GET", path, nil, "If-None-Match", etag), http.StatusNotModified)
		wantStatus(t, a.do("GET", path, nil, "If-None-Match", `"stale"`), 200)
	}
}

func TestPageAllowsThePublicOriginsPictures(t *testing.T) {
	t.Parallel()
	a := newAppWith(t, func(c *config) { c.publicURL = "https://api.example.org/social" })
	csp := a.do("GET", "/", nil).header.Get("Content-Security-Policy")
	for _, want := range []string{"img-src 'self' https://api.example.org;", "connect-src 'self' https://api.example.org;"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("want %q in %q", want, csp)
		}
	}
}

// TestPageIsSafeByConstruction guards what the policy cannot: the app
// writes no markup from strings, and the page has nothing inline.
func TestPageIsSafeByConstruction(t *testing.T) {
	t.Parallel()
	err := fs.WalkDir(webFiles, "web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webFiles.ReadFile(path)
		if err != nil {
			return err
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
			"<style", "style=", "javascript:", "localStorage.setItem"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAll(b, -1) {
			if !bytes.Contains(tag, []byte(` src="`)) {
				t.Errorf("%s has an inline script: %s", path, tag)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
