package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// operationMethods are the keys of an OpenAPI path item that name
// operations; the others ("parameters", "summary", …) do not.
var operationMethods = []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}

// registeredRoutes lists every route addRoutes registers as "METHOD /path",
// with whether it needs a token. The rules: every API path answers OPTIONS
// (router.finish registers it), so OPTIONS counts as a route of each; HEAD
// is implied by GET (the ServeMux answers it) and is not a route of its own.
func registeredRoutes() map[string]bool {
	s := &server{}
	rt := newRouter(http.NewServeMux(), s)
	addRoutes(rt, s)
	routes := map[string]bool{}
	for _, path := range rt.paths {
		for _, m := range rt.methods[path] {
			routes[m+" "+path] = rt.auth[path]
		}
		routes["OPTIONS "+path] = false
	}
	for _, route := range rt.plains {
		routes[route] = false
	}
	return routes
}

// apiDoc is an OpenAPI document, decoded as far as the tests need.
type apiDoc struct {
	OpenAPI  string
	Security []map[string][]string
	Paths    map[string]map[string]json.RawMessage
}

func decodeAPIDoc(t *testing.T, b []byte) apiDoc {
	t.Helper()
	var doc apiDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// documentedRoutes lists the document's operations as "METHOD /path", with
// whether each requires the Token scheme.
func documentedRoutes(t *testing.T, doc apiDoc) map[string]bool {
	t.Helper()
	routes := map[string]bool{}
	for path, item := range doc.Paths {
		for key, raw := range item {
			method := strings.ToUpper(key)
			if !slices.Contains(operationMethods, method) {
				continue
			}
			var op struct{ Security *[]map[string][]string }
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			security := doc.Security
			if op.Security != nil {
				security = *op.Security
			}
			needsToken := len(security) > 0
			for _, req := range security {
				if _, ok := req["Token"]; !ok {
					needsToken = false // an alternative without the token
				}
			}
			routes[method+" "+path] = needsToken
		}
	}
	return routes
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	doc := decodeAPIDoc(t, openAPIDoc)
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("want OpenAPI 3.1, got %q", doc.OpenAPI)
	}
	registered, documented := registeredRoutes(), documentedRoutes(t, doc)
	for _, route := range slices.Sorted(maps.Keys(registered)) {
		needsToken, ok := documented[route]
		switch {
		case !ok:
			t.Errorf("%s is registered in addRoutes but missing from openapi.json", route)
		case needsToken != registered[route]:
			t.Errorf("%s: openapi.json says it needs a token: %v; the route says %v", route, needsToken, registered[route])
		}
	}
	for _, route := range slices.Sorted(maps.Keys(documented)) {
		if _, ok := registered[route]; !ok {
			t.Errorf("openapi.json names %s, which addRoutes does not register", route)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	r := a.do("GET", "/api/schema/", nil)
	wantStatus(t, r, 200)
	if !bytes.Equal(r.body, openAPIDoc) || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("want the embedded document as JSON, got %s %q", r.header.Get("Content-Type"), r.body[:min(len(r.body), 80)])
	}
	decodeAPIDoc(t, r.body)
}
